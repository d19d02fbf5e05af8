//! Steps that must stay linear, and the settings a production-like database
//! carries, against the real PostgreSQL:
//! - `clean` with real users among a dev-sized dataset removes exactly the
//!   synthetic rows and finishes (a plan that rescans per row would hang: the
//!   generous limit is there to fail a hang, not a slow machine);
//! - a database that sets short `statement_timeout`, `lock_timeout` and
//!   `idle_in_transaction_session_timeout` still takes a load and a refresh,
//!   and the report records what was found and what was set;
//! - a read-only database is refused in the preflight, exit 2, nothing written.

mod common;

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tokio_postgres::Client;

fn tmp_path(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("chatsynth-scale-{}-{name}", std::process::id()))
}

/// Runs chatsynth with `args`, killing it and failing the test if it has not
/// exited within `limit` (a hang guard, not a speed assertion). Returns the
/// exit code, stdout and stderr.
async fn run_within(tag: &str, args: &[&str], limit: Duration) -> (i32, String, String) {
    let (out, err) = (
        tmp_path(&format!("{tag}.out")),
        tmp_path(&format!("{tag}.err")),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatsynth"))
        .args(args)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .spawn()
        .expect("spawn chatsynth");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chatsynth {args:?} did not finish within {limit:?} (a hang); stderr:\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let o = std::fs::read_to_string(&out).unwrap_or_default();
    let e = std::fs::read_to_string(&err).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&err);
    (status.code().unwrap_or(-1), o, e)
}

async fn ids(c: &Client, table: &str) -> Vec<String> {
    c.query(&format!("SELECT id FROM \"{table}\" ORDER BY id"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn clean_with_real_users_among_a_dev_sized_dataset_is_linear_and_exact() {
    let db = TestDb::new("clean_dev").await;
    let c = db.client().await;
    let report = tmp_path("clean-dev-load.json");
    let (code, _, err) = run_within(
        "clean-dev-load",
        &[
            "load",
            "--band",
            "dev",
            "--database-url",
            &db.url,
            "--report",
            report.to_str().unwrap(),
            "--no-progress",
        ],
        Duration::from_secs(900),
    )
    .await;
    assert_eq!(code, 0, "dev load failed: {err}");
    let _ = std::fs::remove_file(&report);
    assert!(count(&c, "SELECT count(*) FROM messages").await >= 400_000);

    add_real_users(&c).await;
    let (code, out, err) = run_within(
        "clean-dev",
        &["clean", "--database-url", &db.url],
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(code, 0, "clean failed: {err}\n{out}");
    // The survivors are the minority: copied aside, tables truncated.
    assert!(out.contains("copied their surviving rows aside"), "{out}");
    assert_only_the_real_survivors(&c).await;
}

#[tokio::test]
async fn clean_deletes_when_a_table_outside_the_seven_references_them() {
    // TRUNCATE would refuse (and CASCADE would empty the application's table),
    // so clean deletes: the same survivors, and the outside table's own
    // cascade runs for the synthetic user it referenced.
    let db = TestDb::new("clean_ext").await;
    let c = db.client().await;
    let report = tmp_path("clean-ext-load.json");
    let (code, _, err) = run_within(
        "clean-ext-load",
        &[
            "load",
            "--band",
            "tiny",
            "--database-url",
            &db.url,
            "--report",
            report.to_str().unwrap(),
            "--no-progress",
        ],
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(code, 0, "load failed: {err}");
    let _ = std::fs::remove_file(&report);
    add_real_users(&c).await;
    c.batch_execute(
        r#"CREATE SCHEMA app;
           CREATE TABLE app.audit (id int PRIMARY KEY, "userId" text REFERENCES public.users(id) ON DELETE CASCADE);
           INSERT INTO app.audit VALUES (1, 'real_u1');
           INSERT INTO app.audit SELECT 2, id FROM public.users WHERE starts_with(email, 'syn_') ORDER BY id LIMIT 1;"#,
    )
    .await
    .unwrap();
    let (code, out, err) = run_within(
        "clean-ext",
        &["clean", "--database-url", &db.url],
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(code, 0, "clean failed: {err}\n{out}");
    assert!(out.contains("deleted the synthetic users"), "{out}");
    assert_only_the_real_survivors(&c).await;
    assert_eq!(count(&c, "SELECT count(*) FROM app.audit").await, 1);
    assert_eq!(
        count(&c, "SELECT count(*) FROM app.audit WHERE id = 1").await,
        1
    );
}

/// Adds two real users with rows of their own that also reach into the
/// synthetic dataset (members of, messages in, replies to, reads and
/// receipts of synthetic rows), like QA accounts added by hand.
async fn add_real_users(c: &Client) {
    let first =
        |sql: &'static str| async move { c.query_one(sql, &[]).await.unwrap().get::<_, String>(0) };
    let syn_user = first("SELECT id FROM users ORDER BY id LIMIT 1").await;
    let syn_conv = first("SELECT id FROM conversations ORDER BY id LIMIT 1").await;
    let syn_msg = first("SELECT id FROM messages ORDER BY id LIMIT 1").await;
    c.batch_execute(&format!(
        r#"
        INSERT INTO users (id, email, username, "updatedAt") VALUES
          ('real_u1', 'synthia@corp.test', 'synthia', now()),
          ('real_u2', 'qa@corp.test', 'qa', now());
        INSERT INTO conversations (id, type, "creatorId", "updatedAt") VALUES
          ('real_c1', 'GROUP_CHAT', 'real_u1', now());
        INSERT INTO conversation_users (id, "userId", "conversationId", "updatedAt") VALUES
          ('real_cu1', 'real_u1', 'real_c1', now()),
          ('real_cu2', 'real_u2', 'real_c1', now()),
          ('real_cu3', '{su}', 'real_c1', now()),
          ('real_cu4', 'real_u2', '{sc}', now());
        INSERT INTO messages (id, content, "idempotencyKey", "senderId", "conversationId", "replyToId", "updatedAt") VALUES
          ('real_m1', 'hi', 'real_m1', 'real_u1', 'real_c1', NULL, now()),
          ('real_m2', 'hi', 'real_m2', '{su}', 'real_c1', NULL, now()),
          ('real_m3', 'hi', 'real_m3', 'real_u2', 'real_c1', 'real_m2', now()),
          ('real_m4', 'hi', 'real_m4', 'real_u2', 'real_c1', '{sm}', now()),
          ('real_m5', 'hi', 'real_m5', 'real_u2', '{sc}', NULL, now());
        INSERT INTO attachments (id, filename, "originalName", "mimeType", size, url, type, "uploaderId", "messageId", "updatedAt") VALUES
          ('real_a1', 'a.png', 'a.png', 'image/png', 10, 'https://corp.test/a', 'IMAGE', 'real_u1', 'real_m1', now()),
          ('real_a2', 'b.png', 'b.png', 'image/png', 10, 'https://corp.test/b', 'IMAGE', 'real_u2', NULL, now()),
          ('real_a3', 'c.png', 'c.png', 'image/png', 10, 'https://corp.test/c', 'IMAGE', 'real_u2', '{sm}', now());
        INSERT INTO message_reads (id, "userId", "messageId", "updatedAt") VALUES
          ('real_r1', 'real_u2', 'real_m1', now()),
          ('real_r2', '{su}', 'real_m1', now()),
          ('real_r3', 'real_u1', 'real_m2', now()),
          ('real_r4', 'real_u1', '{sm}', now());
        INSERT INTO message_receipts (id, state, "userId", "messageId", "updatedAt") VALUES
          ('real_x1', 'READ', 'real_u2', 'real_m1', now()),
          ('real_x2', 'READ', '{su}', 'real_m1', now()),
          ('real_x3', 'DELIVERED', 'real_u1', 'real_m2', now()),
          ('real_x4', 'DELIVERED', 'real_u1', 'real_m4', now());
        "#,
        su = syn_user,
        sc = syn_conv,
        sm = syn_msg
    ))
    .await
    .unwrap();
}

/// Exactly the rows the foreign keys' cascade leaves after `add_real_users`:
/// every synthetic row is gone, and of the real ones those that hang off a
/// synthetic user, conversation or message (directly or through a removed
/// message).
async fn assert_only_the_real_survivors(c: &Client) {
    assert_eq!(ids(c, "users").await, sorted(&["real_u1", "real_u2"]));
    assert_eq!(ids(c, "conversations").await, sorted(&["real_c1"]));
    assert_eq!(
        ids(c, "conversation_users").await,
        sorted(&["real_cu1", "real_cu2"])
    );
    assert_eq!(
        ids(c, "messages").await,
        sorted(&["real_m1", "real_m3", "real_m4"])
    );
    assert_eq!(ids(c, "attachments").await, sorted(&["real_a1", "real_a2"]));
    assert_eq!(ids(c, "message_reads").await, sorted(&["real_r1"]));
    assert_eq!(
        ids(c, "message_receipts").await,
        sorted(&["real_x1", "real_x4"])
    );
    // Replies to removed messages lose their reference (ON DELETE SET NULL).
    let replies: Vec<Option<String>> = c
        .query(r#"SELECT "replyToId" FROM messages ORDER BY id"#, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(replies, vec![None, None, None]);
}

/// Sets the timeouts a production-like database carries on the database.
async fn with_short_timeouts(db: &TestDb) {
    let admin = connect(&admin_url()).await;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{n}\" SET statement_timeout = '300ms';
             ALTER DATABASE \"{n}\" SET lock_timeout = '100ms';
             ALTER DATABASE \"{n}\" SET idle_in_transaction_session_timeout = '500ms';",
            n = db.name
        ))
        .await
        .unwrap();
}

fn session_settings(report: &PathBuf) -> serde_json::Value {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    assert_eq!(r["outcome"], "completed", "{r}");
    r["session_settings"].clone()
}

#[tokio::test]
async fn a_database_with_short_timeouts_takes_a_load_and_a_refresh() {
    let db = TestDb::new("timeouts").await;
    with_short_timeouts(&db).await;
    let c = db.client().await;
    // The settings are really in force for an ordinary session.
    assert_eq!(
        c.query_one("SHOW statement_timeout", &[])
            .await
            .unwrap()
            .get::<_, String>(0),
        "300ms"
    );
    for cmd in ["load", "refresh"] {
        let report = tmp_path(&format!("timeouts-{cmd}.json"));
        let mut args = vec![
            cmd,
            "--band",
            "tiny",
            "--messages",
            "200000",
            "--database-url",
            &db.url,
            "--report",
            report.to_str().unwrap(),
            "--no-progress",
        ];
        if cmd == "load" {
            args.push("--truncate");
        }
        let (code, out, err) =
            run_within(&format!("timeouts-{cmd}"), &args, Duration::from_secs(600)).await;
        assert_eq!(code, 0, "{cmd} failed: {err}\n{out}");
        let s = session_settings(&report);
        if cmd == "load" {
            let _ = std::fs::remove_file(&report);
        }
        assert_eq!(s["found"]["statement_timeout"], "300ms", "{s}");
        assert_eq!(s["found"]["lock_timeout"], "100ms", "{s}");
        assert_eq!(
            s["found"]["idle_in_transaction_session_timeout"], "500ms",
            "{s}"
        );
        assert_eq!(s["set"]["statement_timeout"], "0", "{s}");
        assert_eq!(s["set"]["idle_in_transaction_session_timeout"], "0", "{s}");
        assert_eq!(s["set"]["lock_timeout"], "30s", "{s}");
        assert_eq!(s["found"]["default_transaction_read_only"], "off", "{s}");
    }
    assert_eq!(count(&c, "SELECT count(*) FROM messages").await, 200_000);
    // validate runs its queries under the same bounds: it gets to a decision
    // (written to --out) instead of failing on the database's 300 ms.
    let load_report = tmp_path("timeouts-refresh.json");
    let validated = tmp_path("timeouts-validate.json");
    let (code, out, err) = run_within(
        "timeouts-validate",
        &[
            "validate",
            "--database-url",
            &db.url,
            "--report",
            load_report.to_str().unwrap(),
            "--out",
            validated.to_str().unwrap(),
        ],
        Duration::from_secs(600),
    )
    .await;
    let result: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&validated)
            .unwrap_or_else(|_| panic!("validate wrote no result (exit {code}): {err}\n{out}")),
    )
    .unwrap();
    let _ = std::fs::remove_file(&validated);
    let _ = std::fs::remove_file(&load_report);
    assert!(result["decision"]["verdict"].is_string(), "{result}");
    assert!(!err.contains("timeout"), "{err}");
    let (code, out, err) = run_within(
        "timeouts-clean",
        &["clean", "--database-url", &db.url],
        Duration::from_secs(600),
    )
    .await;
    assert_eq!(code, 0, "clean failed: {err}\n{out}");
    assert_eq!(count(&c, "SELECT count(*) FROM messages").await, 0);
}

#[tokio::test]
async fn a_read_only_database_is_refused_before_anything_is_written() {
    let db = TestDb::new("readonly").await;
    let admin = connect(&admin_url()).await;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET default_transaction_read_only = on",
            db.name
        ))
        .await
        .unwrap();
    let c = db.client().await;
    let schemas = || async {
        count(
            &c,
            "SELECT count(*) FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'",
        )
        .await
    };
    let before = schemas().await;
    let report = tmp_path("readonly.json");
    for args in [
        vec!["load", "--band", "tiny"],
        vec!["refresh", "--band", "tiny"],
        vec!["load", "--band", "tiny", "--schema", "fresh"],
        vec!["clean"],
    ] {
        let mut args = args.clone();
        args.extend(["--database-url", &db.url]);
        if args[0] != "clean" {
            args.extend(["--report", report.to_str().unwrap(), "--no-progress"]);
        }
        let (code, out, err) = run_within("readonly", &args, Duration::from_secs(120)).await;
        assert_eq!(code, 2, "{args:?}: {err}\n{out}");
        assert!(err.contains("read-only"), "{args:?}: {err}");
        assert!(
            err.trim().lines().count() <= 2,
            "{args:?}: one clear error expected:\n{err}"
        );
    }
    let _ = std::fs::remove_file(&report);
    // Nothing written: no schema, no table, no ledger.
    assert_eq!(schemas().await, before);
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
        )
        .await,
        0
    );
}
