//! `load --resume` and sharded loads (issue 13): a load killed with SIGKILL in the children
//! phase, or during the index builds, is resumed; the result equals an
//! uninterrupted load of the same seed table by table (md5 in id order), and
//! the resumed run does strictly less work. A `--resume` with another
//! configuration, or with nothing to resume, is refused (exit 2, nothing
//! written). Three shards run as separate processes (one of them killed and
//! rerun alone) give the same tables as a single load; `--finish` waits for
//! every shard; bad shard input is refused.
//!
//! The kill points are reached through test hooks of the binary:
//! `CHATSYNTH_TEST_COMMIT_BYTES=1` commits every unit, and
//! `CHATSYNTH_TEST_HOLD=children|indexes|keys` stops the run after the first
//! committed batch of message_receipts, after the first index, or after the
//! first table's foreign keys are validated, and prints
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

/// Each table's fingerprint in a load report.
fn fingerprints(r: &serde_json::Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = r["phases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["tables"].as_array().unwrap())
        .map(|t| {
            (
                t["table"].as_str().unwrap().to_string(),
                t["fingerprint"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// md5 per table and fingerprints of an uninterrupted load of ARGS.
async fn reference() -> (Vec<String>, Vec<(String, String)>) {
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
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let _ = std::fs::remove_file(&report);
    (
        checksums(&db.client().await, "public").await,
        fingerprints(&r),
    )
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
    let (want, want_fp) = reference().await;
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
        fingerprints(&r),
        want_fp,
        "skipped units' fingerprints are combined in"
    );
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
    let (want, want_fp) = reference().await;
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
    assert_eq!(fingerprints(&r), want_fp);
}

#[tokio::test]
async fn a_load_killed_while_validating_foreign_keys_resumes_with_every_key_valid() {
    let (want, want_fp) = reference().await;
    let db = TestDb::new("resume_keys").await;
    load_and_kill(&db.url, "keys", "keys");
    let c = db.client().await;
    // The keys were added NOT VALID, one table's keys were validated, the
    // others wait.
    let unvalidated = "SELECT count(*) FROM pg_constraint k JOIN pg_namespace n \
         ON n.oid = k.connamespace WHERE n.nspname = $1 AND k.contype = 'f' \
         AND NOT k.convalidated";
    let waiting = c
        .query_one(unvalidated, &[&"cs_stage_public"])
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert!(waiting >= 1, "no foreign key left to validate at the kill");
    let r = resume(&db.url, "keys-resume");
    assert_eq!(written_and_skipped(&r).0, 0);
    let validated: Vec<&str> = r["builds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["step"].as_str())
        .filter(|s| s.starts_with("foreign key "))
        .collect();
    // A validation in flight at the kill may still finish on the server
    // before the resume, so the resumed run validates at most the keys
    // counted here, and at least one.
    assert!(
        !validated.is_empty() && validated.len() as i64 <= waiting,
        "the resumed run validates only the keys left ({waiting}): {validated:?}"
    );
    let after = c
        .query_one(unvalidated, &[&"public"])
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(after, 0, "every foreign key of the result is validated");
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM pg_constraint k JOIN pg_namespace n ON n.oid = k.connamespace \
             WHERE n.nspname = 'public' AND k.contype = 'f'"
        )
        .await,
        12
    );
    assert_eq!(checksums(&c, "public").await, want);
    assert_eq!(fingerprints(&r), want_fp);
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

// ---------------------------------------------------------------------------
// Shards: load --prepare, load --shard i/n --run RUN, load --finish --run RUN
// ---------------------------------------------------------------------------

/// `chatsynth load <extra> <ARGS> --database-url url`, with the dataset of ARGS.
fn load(url: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["load"];
    args.extend(extra);
    args.extend(ARGS);
    args.extend(["--database-url", url, "--no-progress"]);
    chatsynth(&args)
}

fn prepare(url: &str) -> String {
    let o = load(url, &["--prepare"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = common::stdout(&o).trim().to_string();
    assert!(
        !run.is_empty() && !run.contains('\n'),
        "stdout is the run id: {run:?}"
    );
    run
}

#[tokio::test]
async fn three_shard_processes_equal_a_single_load_and_finish_waits_for_all() {
    let (want, want_fp) = reference().await;
    let db = TestDb::new("shards").await;
    let run = prepare(&db.url);
    // Two of three shards at once, as separate processes.
    let children: Vec<_> = ["0/3", "2/3"]
        .iter()
        .map(|s| {
            let mut args = vec!["load", "--shard", s, "--run", &run];
            args.extend(ARGS);
            args.extend(["--database-url", &db.url, "--no-progress"]);
            Command::new(env!("CARGO_BIN_EXE_chatsynth"))
                .args(&args)
                .env_remove("DATABASE_URL")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    // Shard 1 is missing: --finish is refused and writes nothing.
    let o = load(&db.url, &["--finish", "--run", &run]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("shard(s) 1/3 not done"),
        "{}",
        stderr(&o)
    );
    let c = db.client().await;
    assert_eq!(count(&c, "SELECT count(*) FROM public.messages").await, 0);
    // Shard 1 is killed mid-way, then rerun alone.
    shard_and_kill(&db.url, &run, "1/3");
    let o = load(&db.url, &["--finish", "--run", &run]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "a killed shard is not done: {}",
        stderr(&o)
    );
    let o = load(&db.url, &["--shard", "1/3", "--run", &run]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = report_path("finish");
    let o = load(&db.url, &["--finish", "--run", &run, "--report", &report]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(checksums(&c, "public").await, want);
    // The finish combines the shards' per-unit fingerprints into the whole run's.
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let _ = std::fs::remove_file(&report);
    assert_eq!(fingerprints(&r), want_fp);
}

/// Starts shard `shard` with the children hook, kills it with SIGKILL once it holds.
fn shard_and_kill(url: &str, run: &str, shard: &str) {
    let log = std::env::temp_dir().join(format!("chatsynth-shard-kill-{}.log", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatsynth"))
        .args(["load", "--shard", shard, "--run", run])
        .args(ARGS)
        .args(["--database-url", url, "--no-progress"])
        .env_remove("DATABASE_URL")
        .env("CHATSYNTH_TEST_COMMIT_BYTES", "1")
        .env("CHATSYNTH_TEST_HOLD", "children")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let t = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("test hook") {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the shard ended ({status}) before the hook: {text}");
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "hook not reached: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_file(&log);
}

#[tokio::test]
async fn bad_shard_input_is_one_error_exit_2_and_writes_nothing() {
    let db = TestDb::new("shards_bad").await;
    let c = db.client().await;
    // --finish and --shard without --prepare: refused before anything is created.
    for extra in [
        &["--finish", "--run", "20260101T000000Z-1"][..],
        &["--shard", "0/2", "--run", "20260101T000000Z-1"],
    ] {
        let o = load(&db.url, extra);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("load --prepare"), "{}", stderr(&o));
    }
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        )
        .await,
        0
    );
    let run = prepare(&db.url);
    let progress = "SELECT (SELECT count(*) FROM cs_stage_public.cs_progress) + (SELECT count(*) FROM cs_stage_public.cs_shards)";
    for (extra, says) in [
        (vec!["--shard", "2/2"], "0 <= i < n"),
        (vec!["--shard", "1/0"], "0 <= i < n"),
        (vec!["--shard", "x"], "i/n"),
    ] {
        let mut e = extra.clone();
        e.extend(["--run", &run]);
        let o = load(&db.url, &e);
        assert_eq!(o.status.code(), Some(2), "{e:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    }
    // Another seed than the prepared run's.
    let o = chatsynth(&[
        "load",
        "--shard",
        "0/2",
        "--run",
        &run,
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
    assert_eq!(
        count(&c, progress).await,
        0,
        "a refused shard wrote into the stage"
    );
    // A shard count differing from the one the first shard started with.
    let o = load(&db.url, &["--shard", "0/2", "--run", &run]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let before = count(&c, progress).await;
    let o = load(&db.url, &["--shard", "1/3", "--run", &run]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("same n"), "{}", stderr(&o));
    assert_eq!(count(&c, progress).await, before);
}
