//! The nightly job's plumbing, end to end against the real PostgreSQL:
//! `--metrics-file` of load, validate, refresh and clean checked by Prometheus'
//! own `promtool check metrics` (Debian's `prometheus` package; a missing
//! promtool fails the test), a failed run that keeps the last success time,
//! output folders refused before any work, `--log-format json`, shell
//! completions, the man page, and `--help` text for every flag.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;
use common::*;

/// A fresh folder under cargo's target tmp folder, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("chatsynth-ops-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }

    fn file(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `promtool check metrics` on the file: must exist and pass (lint included).
fn promtool_check(path: &str) {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("metrics file {path}: {e}"));
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "promtool is needed to check the metrics ({e}); install it: apt-get install prometheus"
            )
        });
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed on {path}:\n{}{}\n--- file ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&text)
    );
}

/// The value of the one sample whose name and labels start with `series`.
fn sample(text: &str, series: &str) -> f64 {
    let found: Vec<f64> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix(series))
        .filter_map(|rest| rest.trim().parse().ok())
        .collect();
    assert_eq!(found.len(), 1, "expected one sample {series} in:\n{text}");
    found[0]
}

fn ok(o: &std::process::Output) {
    assert!(
        o.status.success(),
        "chatsynth failed ({:?}): {}\n{}",
        o.status.code(),
        stderr(o),
        stdout(o)
    );
}

#[tokio::test]
async fn metrics_of_load_validate_refresh_and_clean_pass_promtool() {
    let db = TestDb::new("metrics").await;
    let dir = Dir::new("metrics");
    let (report, load_prom) = (dir.file("load.json"), dir.file("load.prom"));
    let o = run_tiny_load(
        &db.url,
        &["--report", &report, "--metrics-file", &load_prom],
    );
    ok(&o);
    promtool_check(&load_prom);
    let text = std::fs::read_to_string(&load_prom).unwrap();
    let c = db.client().await;
    for table in ["users", "messages", "message_receipts"] {
        let n: i64 = c
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0);
        let series = format!("chatsynth_table_rows{{command=\"load\",table=\"{table}\"}}");
        assert_eq!(sample(&text, &series), n as f64, "{table}");
        let rate = format!("chatsynth_table_rows_per_second{{command=\"load\",table=\"{table}\"}}");
        assert!(sample(&text, &rate) > 0.0);
    }
    for phase in ["plan", "users", "messages", "message children", "ANALYZE"] {
        let series =
            format!("chatsynth_phase_duration_seconds{{command=\"load\",phase=\"{phase}\"}}");
        assert!(sample(&text, &series) >= 0.0);
    }
    assert_eq!(
        sample(
            &text,
            "chatsynth_run_outcome{command=\"load\",outcome=\"completed\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "chatsynth_run_outcome{command=\"load\",outcome=\"failed\"}"
        ),
        0.0
    );
    assert_eq!(
        sample(&text, "chatsynth_run_success{command=\"load\"}"),
        1.0
    );
    let finished = sample(
        &text,
        "chatsynth_run_finished_timestamp_seconds{command=\"load\"}",
    );
    assert_eq!(
        sample(
            &text,
            "chatsynth_last_success_timestamp_seconds{command=\"load\"}"
        ),
        finished
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(finished <= now && finished > now - 3600.0);

    // validate: the verdict in the metrics is the exit code's.
    let validate_prom = dir.file("validate.prom");
    let o = chatsynth(&[
        "validate",
        "--database-url",
        &db.url,
        "--report",
        &report,
        "--out",
        &dir.file("validate.json"),
        "--metrics-file",
        &validate_prom,
    ]);
    promtool_check(&validate_prom);
    let text = std::fs::read_to_string(&validate_prom).unwrap();
    let go = o.status.code() == Some(0);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", stderr(&o));
    assert_eq!(
        sample(&text, "chatsynth_validate_go{command=\"validate\"}"),
        f64::from(u8::from(go))
    );
    assert_eq!(
        sample(
            &text,
            "chatsynth_validate_verdict{command=\"validate\",verdict=\"GO\"}"
        ),
        f64::from(u8::from(go))
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.file("validate.json")).unwrap()).unwrap();
    let checks = json["checks"].as_array().unwrap();
    let passed_critical = checks
        .iter()
        .filter(|c| c["kind"] == "critical" && c["status"] == "pass")
        .count();
    assert!(passed_critical > 0);
    assert_eq!(
        sample(
            &text,
            "chatsynth_validate_checks{command=\"validate\",kind=\"critical\",status=\"pass\"}"
        ),
        passed_critical as f64
    );

    // refresh and clean.
    let refresh_prom = dir.file("refresh.prom");
    ok(&chatsynth(&[
        "refresh",
        "--band",
        "tiny",
        "--seed",
        "3",
        "--database-url",
        &db.url,
        "--report",
        &dir.file("refresh.json"),
        "--metrics-file",
        &refresh_prom,
    ]));
    promtool_check(&refresh_prom);
    let text = std::fs::read_to_string(&refresh_prom).unwrap();
    assert_eq!(
        sample(
            &text,
            "chatsynth_table_rows{command=\"refresh\",table=\"messages\"}"
        ),
        10_000.0
    );
    let clean_prom = dir.file("clean.prom");
    ok(&chatsynth(&[
        "clean",
        "--database-url",
        &db.url,
        "--metrics-file",
        &clean_prom,
    ]));
    promtool_check(&clean_prom);
    let text = std::fs::read_to_string(&clean_prom).unwrap();
    assert_eq!(
        sample(
            &text,
            "chatsynth_clean_rows_removed{command=\"clean\",table=\"messages\"}"
        ),
        10_000.0
    );
    assert_eq!(
        sample(
            &text,
            "chatsynth_clean_rows_kept{command=\"clean\",table=\"messages\"}"
        ),
        0.0
    );

    // The files of all four commands side by side, as the collector reads them.
    let all: String = ["load.prom", "validate.prom", "refresh.prom", "clean.prom"]
        .iter()
        .map(|f| std::fs::read_to_string(dir.file(f)).unwrap())
        .collect();
    for f in ["load.prom", "validate.prom", "refresh.prom", "clean.prom"] {
        assert!(all.contains(&format!("command=\"{}\"", f.trim_end_matches(".prom"))));
    }
    // Only the files asked for: no temporary or probe file left behind.
    let mut names: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[tokio::test]
async fn a_failed_run_writes_its_outcome_and_keeps_the_last_success() {
    let db = TestDb::new("metricsfail").await;
    let dir = Dir::new("metricsfail");
    let prom = dir.file("load.prom");
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "load",
            "--band",
            "tiny",
            "--database-url",
            &db.url,
            "--report",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.push(dir.file("r.json"));
        a.push("--metrics-file".into());
        a.push(prom.clone());
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: Vec<String>| chatsynth(&a.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    ok(&run(args(&[])));
    let first = std::fs::read_to_string(&prom).unwrap();
    let success = sample(
        &first,
        "chatsynth_last_success_timestamp_seconds{command=\"load\"}",
    );
    // A second load into the now non-empty target without --truncate is refused.
    let o = run(args(&[]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    promtool_check(&prom);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(
        sample(
            &text,
            "chatsynth_run_outcome{command=\"load\",outcome=\"failed\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(&text, "chatsynth_run_success{command=\"load\"}"),
        0.0
    );
    assert_eq!(
        sample(&text, "chatsynth_run_exit_code{command=\"load\"}"),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            "chatsynth_last_success_timestamp_seconds{command=\"load\"}"
        ),
        success
    );
    assert!(
        sample(
            &text,
            "chatsynth_run_finished_timestamp_seconds{command=\"load\"}"
        ) > success
    );
}

#[tokio::test]
async fn output_files_in_missing_or_read_only_folders_are_refused_before_any_work() {
    let db = TestDb::new("metricsdir").await;
    let dir = Dir::new("metricsdir");
    let ro = dir.0.join("read-only");
    std::fs::create_dir(&ro).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    // root writes into a 0555 folder anyway: run chatsynth as `nobody` then.
    let as_root = nix::unistd::geteuid().is_root();
    let run = |args: &[&str]| {
        let mut c = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "nobody", "--", env!("CARGO_BIN_EXE_chatsynth")]);
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_chatsynth"))
        };
        c.args(args).env_remove("DATABASE_URL").output().unwrap()
    };
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let missing = dir.file("missing/load.prom");
    let read_only = ro.join("load.prom").to_string_lossy().into_owned();
    for (path, why) in [
        (&missing, "does not exist"),
        (&read_only, "cannot write in the folder"),
    ] {
        for cmd in [
            vec!["load", "--band", "tiny", "--database-url", &db.url],
            vec!["refresh", "--band", "tiny", "--database-url", &db.url],
            vec!["validate", "--database-url", &db.url],
            vec!["clean", "--database-url", &db.url],
        ] {
            let mut a = cmd.clone();
            a.extend(["--metrics-file", path.as_str()]);
            let o = run(&a);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{a:?}: {err}");
            assert_eq!(err.lines().count(), 1, "one line: {err}");
            assert!(err.contains("--metrics-file") && err.contains(why), "{err}");
        }
    }
    // Nothing was done: no table, no ledger, no staging schema in the database.
    let c = db.client().await;
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    assert!(!Path::new(&missing).exists() && !Path::new(&read_only).exists());
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let db = TestDb::new("jsonlog").await;
    let dir = Dir::new("jsonlog");
    let o = chatsynth(&[
        "--log-format",
        "json",
        "load",
        "--band",
        "tiny",
        "--database-url",
        &db.url,
        "--report",
        &dir.file("r.json"),
    ]);
    ok(&o);
    let err = stderr(&o);
    let events: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for e in &events {
        assert!(
            e["ts"].is_string() && e["level"].is_string() && e["event"].is_string(),
            "{e}"
        );
    }
    let phases: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "phase_end")
        .map(|e| e["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        phases,
        ["users", "conversations", "messages", "message children"]
    );
    let messages = events
        .iter()
        .filter(|e| e["event"] == "phase_end")
        .flat_map(|e| e["tables"].as_array().unwrap())
        .find(|t| t["table"] == "messages")
        .unwrap();
    assert_eq!(messages["rows"], 10_000);
    assert!(events.iter().any(|e| e["event"] == "step_end"));
    let end = events.last().unwrap();
    assert_eq!(end["event"], "run_end");
    assert_eq!(end["exit_code"], 0);

    // An error is one JSON line too, with its exit code.
    let o = chatsynth(&["--log-format", "json", "load", "--band", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    let e: serde_json::Value = serde_json::from_str(err.trim()).unwrap();
    assert_eq!(e["event"], "error");
    assert_eq!(e["level"], "error");
    assert_eq!(e["exit_code"], 2);
    assert!(e["message"].as_str().unwrap().contains("nope"));
}

const SUBCOMMANDS: [&str; 7] = [
    "load", "generate", "validate", "explain", "refresh", "clean", "db",
];

#[test]
fn completions_name_the_subcommands_and_bash_accepts_its_script() {
    let dir = Dir::new("completions");
    for shell in ["bash", "zsh", "fish"] {
        let o = chatsynth(&["completions", shell]);
        ok(&o);
        let script = stdout(&o);
        assert!(!script.trim().is_empty(), "{shell}");
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
        assert!(script.contains("metrics-file"), "{shell}");
        if shell == "bash" {
            let f = dir.file("chatsynth.bash");
            std::fs::write(&f, &script).unwrap();
            let b = Command::new("bash").args(["-n", &f]).output().unwrap();
            assert!(
                b.status.success(),
                "bash -n: {}",
                String::from_utf8_lossy(&b.stderr)
            );
        }
    }
    let o = chatsynth(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn the_man_page_renders() {
    let dir = Dir::new("man");
    let o = chatsynth(&["man"]);
    ok(&o);
    let page = stdout(&o);
    assert!(
        page.contains(".TH chatsynth 1"),
        "{}",
        &page[..page.len().min(300)]
    );
    let f = dir.file("chatsynth.1");
    std::fs::write(&f, &page).unwrap();
    let m = Command::new("man")
        .args(["-l", &f])
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("man (Debian's man-db) renders the page");
    assert!(m.status.success(), "{}", String::from_utf8_lossy(&m.stderr));
    let text = String::from_utf8_lossy(&m.stdout);
    assert!(
        text.contains("NAME") && text.contains("SUBCOMMANDS"),
        "{text}"
    );
    for sub in SUBCOMMANDS {
        assert!(text.contains(sub), "man page lacks {sub}");
    }
    // One page per command into a folder.
    ok(&chatsynth(&["man", "--dir", &dir.0.to_string_lossy()]));
    for page in [
        "chatsynth.1",
        "chatsynth-load.1",
        "chatsynth-refresh.1",
        "chatsynth-db-start.1",
    ] {
        let text = std::fs::read_to_string(dir.file(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
    let load = std::fs::read_to_string(dir.file("chatsynth-load.1")).unwrap();
    assert!(load.contains("metrics\\-file"), "{load}");
}

/// Every flag and argument of every command has a help text (`--help` explains it).
#[test]
fn help_explains_every_flag() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        if cmd.get_about().is_none() && !path.is_empty() {
            missing.push(format!("{path}: the command has no description"));
        }
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if a.get_help().is_none() && a.get_long_help().is_none() {
                missing.push(format!("{path} {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut cmd = chatsynth::cli::Cli::command();
    cmd.build();
    let mut missing = Vec::new();
    walk(&cmd, "", &mut missing);
    assert!(missing.is_empty(), "flags without help: {missing:?}");
    // The rendered help of a command shows the flags this issue added.
    let o = chatsynth(&["load", "--help"]);
    let h = stdout(&o);
    assert!(
        h.contains("--metrics-file") && h.contains("--log-format"),
        "{h}"
    );
}
