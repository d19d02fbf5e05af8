//! The private cluster end to end, through the built binary: `db start|status|stop`
//! against the PostgreSQL server binaries installed on the machine, each test in
//! its own `CHATSYNTH_HOME`. A missing installation fails these tests.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{connect, stderr, stdout};

/// A fresh, world-traversable `CHATSYNTH_HOME` (as root, the server runs as the
/// `postgres` user, who must reach it); `db stop` and removal on drop, even when
/// the test fails.
struct Home(PathBuf);

impl Home {
    fn new(tag: &str) -> Home {
        let dir = std::env::temp_dir().join(format!(
            "chatsynth-embedded-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        Home(dir)
    }

    fn run(&self, args: &[&str]) -> Output {
        run_in(&self.0, args, &[])
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = self.run(&["db", "stop"]);
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run_in(home: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatsynth"));
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("CHATSYNTH_PG_BIN")
        .env("CHATSYNTH_HOME", home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run chatsynth")
}

fn ok(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// The URL `db start` printed, checked for shape; returns (url, port).
fn started_url(o: &Output) -> (String, u16) {
    let url = ok(o, "db start").trim().to_string();
    let port = url
        .strip_prefix("postgres://postgres@127.0.0.1:")
        .and_then(|r| r.strip_suffix("/chatsynth"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("db start printed {url:?}, not a private-cluster URL"));
    (url, port)
}

#[tokio::test]
async fn start_status_reuse_stop() {
    let home = Home::new("life");

    let first = home.run(&["db", "start"]);
    let (url, port) = started_url(&first);
    let err = stderr(&first);
    assert!(
        err.contains("initialising a private PostgreSQL cluster"),
        "{err}"
    );
    assert!(err.contains(&format!("psql {url}")), "{err}");
    assert!(home.0.join(".chatsynth/pgdata/PG_VERSION").is_file());
    assert!(home.0.join(".chatsynth/state.json").is_file());

    let client = connect(&url).await;
    let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    let sync: String = client
        .query_one("SHOW synchronous_commit", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(sync, "off");
    drop(client);

    let status = ok(&home.run(&["db", "status"]), "db status");
    assert!(status.starts_with("running"), "{status}");
    assert!(status.contains(&url), "{status}");

    let (again, again_port) = started_url(&home.run(&["db", "start"]));
    assert_eq!(
        again_port, port,
        "a second start must reuse the running cluster"
    );
    assert_eq!(again, url);

    ok(&home.run(&["db", "stop"]), "db stop");
    let status = ok(&home.run(&["db", "status"]), "db status");
    assert!(status.starts_with("stopped"), "{status}");
    assert!(tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .is_err());

    // Stopped, not gone: it comes back on its recorded port with no new initdb.
    let restart = home.run(&["db", "start"]);
    let (_, restart_port) = started_url(&restart);
    assert_eq!(restart_port, port);
    assert!(!stderr(&restart).contains("initialising"));
    connect(&url).await.simple_query("SELECT 1").await.unwrap();
}

#[tokio::test]
async fn concurrent_starts_share_one_cluster() {
    let home = Home::new("race");
    let dir = home.0.clone();
    let dir2 = home.0.clone();
    let a = std::thread::spawn(move || run_in(&dir, &["db", "start"], &[]));
    let b = std::thread::spawn(move || run_in(&dir2, &["db", "start"], &[]));
    let (url_a, _) = started_url(&a.join().unwrap());
    let (url_b, _) = started_url(&b.join().unwrap());
    assert_eq!(url_a, url_b);
    connect(&url_a)
        .await
        .simple_query("SELECT 1")
        .await
        .unwrap();
}

#[test]
fn missing_server_binaries_say_how_to_fix() {
    let home = Home::new("nobin");
    let empty = home.0.join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let out = run_in(
        &home.0,
        &["db", "start"],
        &[("CHATSYNTH_PG_BIN", &empty), ("PATH", &empty)],
    );
    assert_eq!(out.status.code(), Some(2), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("apt-get install postgresql"), "{err}");
    assert!(err.contains("--database-url"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear sentence: {err}");
    assert!(!home.0.join(".chatsynth").exists(), "nothing created");
}

/// The size preflight on the private cluster: a dataset larger than the
/// disk is refused before anything is written (exit 2, no tables); with the
/// free-space figure replaced by a tiny one, a tiny load is refused too, and
/// `--no-space-check` lets the same load through, with the estimate in its
/// report.
#[tokio::test]
async fn the_size_preflight_refuses_what_does_not_fit_unless_told_not_to_check() {
    let home = Home::new("space");
    let (url, _) = started_url(&home.run(&["db", "start"]));
    // A billion messages: about 2 TB by the per-row averages.
    let huge = home.run(&[
        "load",
        "--band",
        "tiny",
        "--users",
        "10000",
        "--conversations",
        "20000",
        "--messages",
        "1000000000",
    ]);
    assert_eq!(huge.status.code(), Some(2), "stderr: {}", stderr(&huge));
    let err = stderr(&huge);
    assert!(err.contains("size estimate: about"), "{err}");
    assert!(err.contains("--no-space-check"), "{err}");
    let client = connect(&url).await;
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename IN ('users', 'messages')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "a refused load created tables");

    let report = home.0.join("report.json");
    let tiny = |extra: &[&str]| {
        let mut args = vec!["load", "--band", "tiny", "--report"];
        let r = report.to_string_lossy().into_owned();
        args.push(&r);
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_chatsynth"))
            .args(&args)
            .env_remove("DATABASE_URL")
            .env_remove("CHATSYNTH_PG_BIN")
            .env("CHATSYNTH_HOME", &home.0)
            .env("CHATSYNTH_TEST_FREE_BYTES", "1000")
            .output()
            .expect("run chatsynth")
    };
    let refused = tiny(&[]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "stderr: {}",
        stderr(&refused)
    );
    assert!(
        stderr(&refused).contains("has 1 MB free"),
        "{}",
        stderr(&refused)
    );

    let loaded = tiny(&["--no-space-check"]);
    ok(&loaded, "load --no-space-check");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let e = &r["size_estimate"];
    assert_eq!(e["free_bytes"], 1000, "{e}");
    assert_eq!(e["checked"], false, "{e}");
    assert!(e["needed_on_disk_bytes"].as_u64().unwrap() > 1000, "{e}");
    assert!(e["database_bytes"].is_null(), "{e}");
}
