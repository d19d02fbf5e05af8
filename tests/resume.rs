//! `load --resume` (issue 13): a load killed with SIGKILL in the children
//! phase, or during the index builds, is resumed; the result equals an
//! uninterrupted load of the same seed table by table (md5 in id order), and
//! the resumed run does strictly less work. A `--resume` with another
//! configuration, or with nothing to resume, is refused (exit 2, nothing
//! written).
//!
//! The kill points are reached through test hooks of the binary:
//! `CHATSYNTH_TEST_COMMIT_BYTES=1` commits every unit, and
//! `CHATSYNTH_TEST_HOLD=children|indexes` stops the run after the first
//! committed batch of message_receipts, or after the first index, and prints
//! `test hook` on stderr; the test then kills the process with SIGKILL.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{chatsynth, checksums, count, stderr, TestDb};

/// Several message units at the tiny band (units are about 16k messages).
const ARGS: [&str; 6] = ["--band", "tiny", "--messages", "100000", "--seed", "7"];

fn report_path(tag: &str) -> String {
    std::env::temp_dir()
        .join(format!(
            "chatsynth-resume-{tag}-{}.json",
            std::process::id()
        ))
        .to_string_lossy()
        .into_owned()
}

/// Starts a load with the hook `hold`, waits (at most 120 s) until it holds,
/// and kills it with SIGKILL.
fn load_and_kill(url: &str, hold: &str, tag: &str) {
    let log =
        std::env::temp_dir().join(format!("chatsynth-resume-{tag}-{}.log", std::process::id()));
    let err = std::fs::File::create(&log).unwrap();
    let report = report_path(tag);
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatsynth"))
        .arg("load")
        .args(ARGS)
        .args(["--database-url", url, "--no-progress", "--report", &report])
        .env_remove("DATABASE_URL")
        .env("CHATSYNTH_TEST_COMMIT_BYTES", "1")
        .env("CHATSYNTH_TEST_HOLD", hold)
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("test hook") {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the load ended ({status}) before the hook: {text}");
        }
        if t.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("the hook {hold} was not reached in 120 s: {text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let _ = std::fs::remove_file(&log);
}

fn resume(url: &str, tag: &str) -> serde_json::Value {
    let report = report_path(tag);
    let mut args = vec!["load", "--resume"];
    args.extend(ARGS);
    args.extend(["--database-url", url, "--no-progress", "--report", &report]);
    let o = chatsynth(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let _ = std::fs::remove_file(&report);
    r
}

async fn reference() -> Vec<String> {
    let db = TestDb::new("resume_ref").await;
    let report = report_path("ref");
    let mut args = vec!["load"];
    args.extend(ARGS);
    args.extend([
        "--database-url",
        &db.url,
        "--no-progress",
        "--report",
        &report,
    ]);
    let o = chatsynth(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let _ = std::fs::remove_file(&report);
    checksums(&db.client().await, "public").await
}

/// Rows this run wrote and rows it skipped, over every table.
fn written_and_skipped(r: &serde_json::Value) -> (u64, u64) {
    let written = r["phases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["tables"].as_array().unwrap())
        .map(|t| t["rows"].as_u64().unwrap())
        .sum();
    let skipped = r["resumed"]["skipped_rows"]
        .as_object()
        .expect("the report of a resumed run lists the rows skipped")
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    (written, skipped)
}

#[tokio::test]
async fn a_load_killed_in_the_children_phase_resumes_to_the_same_data() {
    let want = reference().await;
    let db = TestDb::new("resume_children").await;
    load_and_kill(&db.url, "children", "children");
    let c = db.client().await;
    // Exactly the committed units are in the stage: the messages pass is
    // complete, message_receipts holds some units but not all.
    let units = count(
        &c,
        "SELECT count(*) FROM cs_stage_public.cs_progress WHERE tbl = 'message_receipts'",
    )
    .await;
    let rows = count(&c, "SELECT count(*) FROM cs_stage_public.message_receipts").await;
    let recorded = count(
        &c,
        "SELECT coalesce(sum(rows), 0)::int8 FROM cs_stage_public.cs_progress WHERE tbl = 'message_receipts'",
    )
    .await;
    assert!(units >= 1, "no unit of message_receipts committed");
    assert_eq!(rows, recorded, "the stage holds rows of uncommitted units");

    let r = resume(&db.url, "children-resume");
    let (written, skipped) = written_and_skipped(&r);
    assert!(
        skipped > 0 && written > 0,
        "written {written}, skipped {skipped}"
    );
    assert_eq!(
        r["resumed"]["skipped_units"]["messages"].as_u64(),
        Some(6),
        "the messages pass was complete: {}",
        r["resumed"]
    );
    assert_eq!(checksums(&c, "public").await, want);
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'cs_stage_public'"
        )
        .await,
        0
    );
    let status: String = c
        .query_one("SELECT status FROM chatsynth_runs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "COMPLETED", "one ledger row: the resumed run");
    let progress: String = c
        .query_one("SELECT progress::text FROM chatsynth_runs", &[])
        .await
        .unwrap()
        .get(0);
    let progress: serde_json::Value = serde_json::from_str(&progress).unwrap();
    assert_eq!(
        progress["message_receipts"]["skipped_rows"].as_u64(),
        Some(recorded as u64)
    );
}

#[tokio::test]
async fn a_load_killed_during_the_index_builds_resumes_to_the_same_data() {
    let want = reference().await;
    let db = TestDb::new("resume_indexes").await;
    load_and_kill(&db.url, "indexes", "indexes");
    let r = resume(&db.url, "indexes-resume");
    let (written, skipped) = written_and_skipped(&r);
    assert_eq!(
        written, 0,
        "every unit was committed before the index builds"
    );
    assert!(skipped > 0);
    assert!(
        r["resumed"]["skipped_builds"].as_u64().unwrap() >= 1,
        "the index built before the kill is kept: {}",
        r["resumed"]
    );
    assert_eq!(checksums(&db.client().await, "public").await, want);
}

#[tokio::test]
async fn resume_refuses_another_configuration_and_nothing_to_resume() {
    let db = TestDb::new("resume_bad").await;
    // Nothing to resume on an empty database: refused, not even the tables created.
    let mut args = vec!["load", "--resume"];
    args.extend(ARGS);
    args.extend(["--database-url", &db.url]);
    let o = chatsynth(&args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing to resume"), "{}", stderr(&o));
    let c = db.client().await;
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        )
        .await,
        0
    );

    load_and_kill(&db.url, "children", "bad");
    let before = count(&c, "SELECT count(*) FROM cs_stage_public.message_receipts").await;
    let o = chatsynth(&[
        "load",
        "--resume",
        "--band",
        "tiny",
        "--messages",
        "100000",
        "--seed",
        "8",
        "--database-url",
        &db.url,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("different configuration"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    // Nothing written: the stage and the ledger are as the killed run left them.
    assert_eq!(
        count(&c, "SELECT count(*) FROM cs_stage_public.message_receipts").await,
        before
    );
    let status: String = c
        .query_one("SELECT status FROM chatsynth_runs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "RUNNING", "the refused resume touched the ledger");
}
