//! `load --resume`, `refresh --resume` and sharded loads (issue 13): a load
//! killed with SIGKILL in the children phase or during the index builds, a
//! load stopped by SIGTERM and a refresh stopped by SIGINT (handled: the stage
//! is kept and stderr names `--resume`) are resumed; the result equals an
//! uninterrupted run of the same seed table by table (md5 in id order), and
//! the resumed run does strictly less work. A `--resume` with another
//! configuration, or with nothing to resume, is refused (exit 2, nothing
//! written). Four shards run as separate processes (one killed, one stopped
//! by SIGTERM, both rerun alone) give the same tables as a single load;
//! `--finish` waits for every shard and names each missing one's state from
//! `cs_shards`; bad shard input is refused; a prepared run is not replaced
//! without `--abandon-run`. Declared child tables resume and shard too.
//!
//! The stop points are reached through test hooks of the binary:
//! `CHATSYNTH_TEST_COMMIT_BYTES=1` commits every unit, and
//! `CHATSYNTH_TEST_HOLD=children|indexes|keys` stops the run after the first
//! committed batch of message_receipts, after the first index, or after the
//! first table's foreign keys are validated, and prints
//! `test hook` on stderr; the test then sends the process its signal.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{chatsynth, checksums, count, stderr, TestDb};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

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
    let mut args = vec!["load"];
    args.extend(ARGS);
    let status = run_to_hook(&args, url, hold, tag, Signal::SIGKILL);
    assert_eq!(status.code(), None, "killed by SIGKILL");
}

/// Runs `chatsynth <args> --database-url url` with the hook `hold`, waits (at
/// most 120 s) until it holds, sends it `signal` and returns its exit status
/// and stderr.
fn run_to_hook(
    args: &[&str],
    url: &str,
    hold: &str,
    tag: &str,
    signal: Signal,
) -> std::process::ExitStatus {
    run_to_hook_err(args, url, hold, tag, signal).0
}

fn run_to_hook_err(
    args: &[&str],
    url: &str,
    hold: &str,
    tag: &str,
    signal: Signal,
) -> (std::process::ExitStatus, String) {
    let log =
        std::env::temp_dir().join(format!("chatsynth-resume-{tag}-{}.log", std::process::id()));
    let err = std::fs::File::create(&log).unwrap();
    let report = report_path(tag);
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatsynth"))
        .args(args)
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
            panic!("{args:?} ended ({status}) before the hook: {text}");
        }
        if t.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("the hook {hold} was not reached in 120 s: {text}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("{args:?} did not exit within 60 s of {signal}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_file(&report);
    (status, text)
}

fn resume(url: &str, tag: &str) -> serde_json::Value {
    resume_cmd("load", url, tag)
}

/// `chatsynth <cmd> --resume` with ARGS; must succeed; returns its report.
fn resume_cmd(cmd: &str, url: &str, tag: &str) -> serde_json::Value {
    let report = report_path(tag);
    let mut args = vec![cmd, "--resume"];
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
    reference_cmd("load").await
}

/// md5 per table and fingerprints of an uninterrupted `cmd` (load or refresh) of ARGS.
async fn reference_cmd(cmd: &str) -> (Vec<String>, Vec<(String, String)>) {
    let db = TestDb::new(&format!("resume_ref_{cmd}")).await;
    // Tests run side by side: one report file per reference database.
    let report = report_path(&db.name);
    let mut args = vec![cmd];
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

/// The resumed run wrote some rows and skipped others, and left the same
/// tables (md5 per table) and fingerprints as the uninterrupted run.
async fn assert_resumed_part_and_equal(
    r: &serde_json::Value,
    c: &tokio_postgres::Client,
    want: &[String],
    want_fp: &[(String, String)],
) {
    let (written, skipped) = written_and_skipped(r);
    assert!(
        skipped > 0 && written > 0,
        "written {written}, skipped {skipped}"
    );
    assert_eq!(checksums(c, "public").await, want);
    assert_eq!(fingerprints(r), want_fp);
}

/// The status of the one ledger row.
async fn ledger_status(c: &tokio_postgres::Client) -> String {
    c.query_one("SELECT status FROM chatsynth_runs", &[])
        .await
        .unwrap()
        .get(0)
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
    let status = ledger_status(&c).await;
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

/// What a handled failure left: the stage and its committed units, the
/// ledger row FAILED, and a note on stderr naming `--resume`.
async fn assert_stage_kept(c: &tokio_postgres::Client, err: &str, cmd: &str) {
    assert!(
        err.contains(&format!("`chatsynth {cmd} --resume`")) && err.contains("kept the stage"),
        "{err}"
    );
    assert!(
        count(c, "SELECT count(*) FROM cs_stage_public.cs_progress").await > 0,
        "the committed units were dropped"
    );
    let status = ledger_status(c).await;
    assert_eq!(status, "FAILED");
}

#[tokio::test]
async fn a_load_stopped_by_sigterm_keeps_its_stage_and_resumes_to_the_same_data() {
    let (want, want_fp) = reference().await;
    let db = TestDb::new("resume_sigterm").await;
    let mut args = vec!["load"];
    args.extend(ARGS);
    let (status, err) = run_to_hook_err(&args, &db.url, "children", "sigterm", Signal::SIGTERM);
    assert_eq!(status.code(), Some(143), "{err}");
    let c = db.client().await;
    assert_stage_kept(&c, &err, "load").await;
    let r = resume(&db.url, "sigterm-resume");
    assert_resumed_part_and_equal(&r, &c, &want, &want_fp).await;
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'cs_stage_public'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn a_refresh_interrupted_mid_way_resumes_to_the_same_data() {
    let (want, want_fp) = reference_cmd("refresh").await;
    let db = TestDb::new("resume_refresh").await;
    let mut args = vec!["refresh"];
    args.extend(ARGS);
    // SIGINT: a handled interruption, which keeps the stage for --resume.
    let (status, err) = run_to_hook_err(&args, &db.url, "children", "refresh", Signal::SIGINT);
    assert_eq!(status.code(), Some(130), "{err}");
    let c = db.client().await;
    assert_stage_kept(&c, &err, "refresh").await;
    let r = resume_cmd("refresh", &db.url, "refresh-resume");
    assert_resumed_part_and_equal(&r, &c, &want, &want_fp).await;
    let status = ledger_status(&c).await;
    assert_eq!(status, "COMPLETED");
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
    let status = ledger_status(&c).await;
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
async fn four_shard_processes_equal_a_single_load_and_finish_waits_for_all() {
    let (want, want_fp) = reference().await;
    let db = TestDb::new("shards").await;
    let run = prepare(&db.url);
    // Two of four shards at once, as separate processes.
    let children: Vec<_> = ["0/4", "2/4"]
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
    // Shards 1 and 3 are missing: --finish is refused and writes nothing.
    let o = load(&db.url, &["--finish", "--run", &run]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("shard(s) 1/4, 3/4 not done (1/4: never started; 3/4: never started)"),
        "{}",
        stderr(&o)
    );
    let c = db.client().await;
    assert_eq!(count(&c, "SELECT count(*) FROM public.messages").await, 0);
    // Shard 1 is killed mid-way (SIGKILL), shard 3 stopped by SIGTERM (a
    // handled failure); --finish names both, from their ledger rows.
    shard_and_kill(&db.url, &run, "1/4");
    let mut args = vec!["load", "--shard", "3/4", "--run", &run];
    args.extend(ARGS);
    let status = run_to_hook(&args, &db.url, "children", "shard-term", Signal::SIGTERM);
    assert_eq!(status.code(), Some(143));
    let o = load(&db.url, &["--finish", "--run", &run]);
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "killed or failed shards are not done: {err}"
    );
    assert!(
        err.contains("1/4: started at") && err.contains("still running, or killed"),
        "{err}"
    );
    assert!(
        err.contains("3/4: failed at") && err.contains("interrupted by SIGTERM"),
        "{err}"
    );
    // Each is rerun alone.
    for shard in ["1/4", "3/4"] {
        let o = load(&db.url, &["--shard", shard, "--run", &run]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    // Every shard's row: done, with its rows (together, every staged row),
    // per-table fingerprints, client address and pid, and no error.
    let shard_rows = count(
        &c,
        "SELECT coalesce(sum(rows), 0)::int8 FROM cs_stage_public.cs_shards \
         WHERE done AND error IS NULL AND finished_at >= started_at AND pid > 0 AND host <> '' \
         AND fingerprints ? 'messages'",
    )
    .await;
    let mut staged = 0;
    for t in common::TABLES {
        staged += count(&c, &format!("SELECT count(*) FROM cs_stage_public.{t}")).await;
    }
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM cs_stage_public.cs_shards WHERE done"
        )
        .await,
        4
    );
    assert_eq!(shard_rows, staged, "the shards' rows add up to the stage's");
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

#[tokio::test]
async fn a_prepared_run_refuses_a_plain_load_until_abandoned_by_its_id() {
    let db = TestDb::new("shards_guard").await;
    let c = db.client().await;
    let run = prepare(&db.url);
    let o = load(&db.url, &["--shard", "0/2", "--run", &run]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let units = "SELECT count(*) FROM cs_stage_public.cs_progress";
    let before = count(&c, units).await;
    assert!(before > 0);
    // A plain load, a second --prepare, a --resume, a refresh, and an
    // --abandon-run naming another run: each refused with one error naming
    // the run and how to abandon it; the shards' stage is untouched.
    let refresh = {
        let mut a = vec!["refresh"];
        a.extend(ARGS);
        a.extend(["--database-url", &db.url, "--no-progress"]);
        chatsynth(&a)
    };
    for o in [
        load(&db.url, &[]),
        load(&db.url, &["--prepare"]),
        load(&db.url, &["--resume"]),
        load(&db.url, &["--abandon-run", "20260101T000000Z-1"]),
        refresh,
    ] {
        assert_refused(
            &o,
            &[
                &format!("sharded run {run} is in progress"),
                &format!("--abandon-run {run}"),
            ],
        );
        assert_eq!(count(&c, units).await, before);
    }
    // Abandoned by its id: the stage is replaced and the load completes.
    let o = load(&db.url, &["--abandon-run", &run]);
    assert_abandoned(&o, &run, &c).await;
    assert!(count(&c, "SELECT count(*) FROM public.messages").await > 0);
}

/// Whether the stage of schema public exists.
async fn stage_exists(c: &tokio_postgres::Client) -> bool {
    count(
        c,
        "SELECT count(*) FROM pg_namespace WHERE nspname = 'cs_stage_public'",
    )
    .await
        > 0
}

/// `o` abandoned sharded run `run` and succeeded: the stage is gone.
async fn assert_abandoned(o: &std::process::Output, run: &str, c: &tokio_postgres::Client) {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    assert!(stderr(o).contains(&format!("abandoning sharded run {run}")));
    assert!(!stage_exists(c).await);
}

/// What a refused command must leave as it was: md5 of the seven target
/// tables, the stage's committed units and shard rows, and the ledger.
async fn untouched_state(c: &tokio_postgres::Client) -> (Vec<String>, i64, String) {
    let units = if stage_exists(c).await {
        count(c, "SELECT count(*) FROM cs_stage_public.cs_progress").await
            + 1000 * count(c, "SELECT count(*) FROM cs_stage_public.cs_shards").await
    } else {
        -1
    };
    let ledger: String = c
        .query_one(
            "SELECT coalesce(md5(string_agg(r::text, '|' ORDER BY r::text)), 'none') FROM chatsynth_runs r",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    (checksums(c, "public").await, units, ledger)
}

/// `chatsynth <cmd> <extra> --database-url url` (clean takes no dataset options).
fn cmd(cmd: &str, url: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![cmd];
    args.extend(extra);
    if cmd != "clean" {
        args.extend(ARGS);
        args.push("--no-progress");
    }
    args.extend(["--database-url", url]);
    chatsynth(&args)
}

/// Exit 2 with exactly one `error:` line that contains every one of `want`.
fn assert_refused(o: &std::process::Output, want: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    for w in want {
        assert!(err.contains(w), "{w:?} not in: {err}");
    }
}

#[tokio::test]
async fn clean_refuses_a_sharded_run_in_progress_until_abandoned_by_its_id() {
    let db = TestDb::new("shards_clean").await;
    let c = db.client().await;
    // A loaded target, then a sharded run prepared over it, one shard done.
    let o = load(&db.url, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = load(&db.url, &["--prepare", "--truncate"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = common::stdout(&o).trim().to_string();
    let o = load(&db.url, &["--shard", "0/2", "--run", &run]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let before = untouched_state(&c).await;
    assert!(
        before.1 > 1000,
        "a shard row and committed units: {before:?}"
    );
    assert!(count(&c, "SELECT count(*) FROM public.messages").await > 0);
    // A plain clean, and one abandoning another run: refused, nothing changed.
    let in_progress = format!("sharded run {run} is in progress");
    let how = format!("chatsynth clean --abandon-run {run}");
    let o = cmd("clean", &db.url, &[]);
    assert_refused(&o, &[&in_progress, &how, "load --finish --run"]);
    assert_eq!(untouched_state(&c).await, before);
    let o = cmd("clean", &db.url, &["--abandon-run", "20260101T000000Z-1"]);
    assert_refused(
        &o,
        &[
            &in_progress,
            "--abandon-run 20260101T000000Z-1 names another run",
        ],
    );
    assert_eq!(untouched_state(&c).await, before);
    // Abandoned by its id: the stage goes and the synthetic rows with it.
    let o = cmd("clean", &db.url, &["--abandon-run", &run]);
    assert_abandoned(&o, &run, &c).await;
    assert_eq!(count(&c, "SELECT count(*) FROM public.messages").await, 0);
    // The ledger says so at once (clean writes no run of its own).
    let (status, error): (String, String) = c
        .query_one(
            "SELECT status, error FROM chatsynth_runs WHERE run_id = $1",
            &[&run],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert_eq!(status, "FAILED");
    assert!(error.contains("chatsynth clean --abandon-run"), "{error}");
}

#[tokio::test]
async fn abandon_run_without_that_sharded_run_in_progress_is_refused() {
    let db = TestDb::new("abandon_none").await;
    let c = db.client().await;
    let o = load(&db.url, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let before = untouched_state(&c).await;
    assert_eq!(before.1, -1, "no stage after a completed load");
    // No stage at all: load, --prepare, refresh and clean refuse.
    let named = "--abandon-run 20260101T000000Z-1: no sharded run is in progress";
    for (c_, extra) in [
        ("load", vec!["--truncate"]),
        ("load", vec!["--prepare", "--truncate"]),
        ("refresh", vec![]),
        ("clean", vec![]),
    ] {
        let mut args = extra.clone();
        args.extend(["--abandon-run", "20260101T000000Z-1"]);
        let o = cmd(c_, &db.url, &args);
        assert_refused(&o, &[named, "there is no stage"]);
        assert_eq!(untouched_state(&c).await, before, "{c_} {extra:?}");
    }
    // A stage kept by a stopped whole run is not a sharded run: refused, and
    // the message names the run it holds.
    let mut args = vec!["load", "--truncate"];
    args.extend(ARGS);
    let status = run_to_hook(&args, &db.url, "children", "abandon-none", Signal::SIGTERM);
    assert_eq!(status.code(), Some(143));
    let stopped: String = c
        .query_one("SELECT run_id FROM cs_stage_public.cs_run", &[])
        .await
        .unwrap()
        .get(0);
    let before = untouched_state(&c).await;
    for c_ in ["load", "refresh", "clean"] {
        let extra: &[&str] = if c_ == "load" { &["--truncate"] } else { &[] };
        let mut args = extra.to_vec();
        args.extend(["--abandon-run", &stopped]);
        let o = cmd(c_, &db.url, &args);
        assert_refused(
            &o,
            &[
                &format!("--abandon-run {stopped}: no sharded run is in progress"),
                &format!("holds run {stopped}"),
            ],
        );
        assert_eq!(untouched_state(&c).await, before, "{c_}");
    }
}

// ---------------------------------------------------------------------------
// Declared child tables ([tables.X]): their rows are a pure function of
// (seed, table, parent index), and their COPY streams commit whole units
// into cs_progress under the table's name, so resume and shards skip them
// like the built-in tables.
// ---------------------------------------------------------------------------

const CHILDREN: [&str; 3] = ["message_reactions", "conversation_pins", "user_badges"];

/// md5 per table, the built-in ones and the declared ones.
async fn checksums_with_children(c: &tokio_postgres::Client) -> Vec<String> {
    let mut v = checksums(c, "public").await;
    for t in CHILDREN {
        v.push(common::table_checksum(c, t).await);
    }
    v
}

async fn children_db(tag: &str) -> TestDb {
    let db = TestDb::new(tag).await;
    let c = db.client().await;
    common::apply_schema(&c, "public").await;
    c.batch_execute(common::CHILD_TABLES_SQL).await.unwrap();
    db
}

#[tokio::test]
async fn declared_child_tables_resume_and_shard_to_the_same_data() {
    let config = common::write_config("resume-children", common::CHILD_TABLES_CONFIG);
    let cfg = ["--config", config.as_str()];

    let reference = children_db("resume_children_ref").await;
    let o = load(&reference.url, &cfg);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let want = checksums_with_children(&reference.client().await).await;
    assert!(
        count(
            &reference.client().await,
            "SELECT count(*) FROM message_reactions"
        )
        .await
            > 0
    );

    // Killed in the children phase, then resumed.
    let db = children_db("resume_children_kill").await;
    let mut args = vec!["load"];
    args.extend(cfg);
    args.extend(ARGS);
    let status = run_to_hook(&args, &db.url, "children", "children-decl", Signal::SIGKILL);
    assert_eq!(status.code(), None);
    let c = db.client().await;
    let committed_reactions = count(
        &c,
        "SELECT count(*) FROM cs_stage_public.cs_progress WHERE tbl = 'message_reactions'",
    )
    .await;
    let report = report_path("children-decl-resume");
    let o = load(
        &db.url,
        &["--resume", "--config", &config, "--report", &report],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let _ = std::fs::remove_file(&report);
    // The users and conversations passes were complete: their declared
    // tables were skipped whole.
    for t in ["user_badges", "conversation_pins"] {
        assert!(
            r["resumed"]["skipped_rows"][t].as_u64().unwrap_or(0) > 0,
            "{t} not skipped: {}",
            r["resumed"]
        );
    }
    assert_eq!(
        r["resumed"]["skipped_units"]["message_reactions"]
            .as_u64()
            .unwrap_or(0),
        committed_reactions as u64
    );
    assert_eq!(checksums_with_children(&c).await, want);

    // Two shards, then --finish.
    let db = children_db("resume_children_shards").await;
    let o = load(&db.url, &["--prepare", "--config", &config]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let run = common::stdout(&o).trim().to_string();
    for shard in ["0/2", "1/2"] {
        let o = load(
            &db.url,
            &["--shard", shard, "--run", &run, "--config", &config],
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let o = load(&db.url, &["--finish", "--run", &run, "--config", &config]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(checksums_with_children(&db.client().await).await, want);
    let _ = std::fs::remove_file(&config);
}

/// The fingerprint of each declared child table in a report.
fn child_fingerprints(r: &serde_json::Value) -> Vec<(String, String)> {
    fingerprints(r)
        .into_iter()
        .filter(|(t, _)| CHILDREN.contains(&t.as_str()))
        .collect()
}

/// `load <extra> ARGS-with-seed --config config --report ...`: must succeed;
/// returns its report.
fn load_report(
    url: &str,
    config: &str,
    seed: &str,
    extra: &[&str],
    tag: &str,
) -> serde_json::Value {
    let report = report_path(tag);
    let mut args = vec!["load"];
    args.extend(extra);
    args.extend(["--band", "tiny", "--messages", "100000", "--seed", seed]);
    args.extend(["--config", config, "--report", &report]);
    args.extend(["--database-url", url, "--no-progress"]);
    let o = chatsynth(&args);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    let r = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let _ = std::fs::remove_file(&report);
    r
}

#[tokio::test]
async fn declared_child_tables_fingerprints_combine_across_shards_and_follow_the_seed() {
    let config = common::write_config("resume-childfp", common::CHILD_TABLES_CONFIG);
    let zero = "0".repeat(32);

    let single = children_db("childfp_single").await;
    let want = child_fingerprints(&load_report(&single.url, &config, "7", &[], "childfp-1"));
    assert_eq!(
        want.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        {
            let mut v = CHILDREN.to_vec();
            v.sort();
            v
        },
        "every declared table reported"
    );
    for (t, fp) in &want {
        assert!(
            fp.len() == 32 && *fp != zero,
            "{t}: empty fingerprint {fp:?}"
        );
    }

    // Three shards and --finish: the finish covers every unit and equals the
    // single run; the shards' own fingerprints add up to it.
    let db = children_db("childfp_shards").await;
    let prep = load_report(&db.url, &config, "7", &["--prepare"], "childfp-prep");
    let run = prep["run_id"].as_str().unwrap().to_string();
    let mut sum = std::collections::BTreeMap::<String, u128>::new();
    for shard in ["0/3", "1/3", "2/3"] {
        let r = load_report(
            &db.url,
            &config,
            "7",
            &["--shard", shard, "--run", &run],
            "childfp-shard",
        );
        // A shard may hold no unit of a small pass (its table's
        // fingerprint is then zero): only the sum is compared.
        for (t, fp) in child_fingerprints(&r) {
            let v = u128::from_str_radix(&fp, 16).unwrap();
            let e = sum.entry(t).or_default();
            *e = e.wrapping_add(v);
        }
    }
    let fin = load_report(
        &db.url,
        &config,
        "7",
        &["--finish", "--run", &run],
        "childfp-fin",
    );
    assert_eq!(child_fingerprints(&fin), want, "finish vs single run");
    let combined: Vec<(String, String)> = sum
        .into_iter()
        .map(|(t, v)| (t, format!("{v:032x}")))
        .collect();
    assert_eq!(combined, want, "shards combined vs single run");
    // The shards' rows recorded in cs_shards carry them too (ledger progress).
    let c = db.client().await;
    let ledger: String = c
        .query_one(
            "SELECT progress::text FROM chatsynth_runs WHERE run_id = $1",
            &[&run],
        )
        .await
        .unwrap()
        .get(0);
    for (t, fp) in &want {
        assert!(
            ledger.contains(fp.as_str()),
            "{t}'s fingerprint not in the ledger: {ledger}"
        );
    }

    // Another seed: every declared table's fingerprint differs.
    let other = children_db("childfp_seed").await;
    let got = child_fingerprints(&load_report(&other.url, &config, "8", &[], "childfp-8"));
    assert_eq!(got.len(), want.len());
    for ((t, a), (_, b)) in want.iter().zip(&got) {
        assert_ne!(a, b, "{t}: same fingerprint for seeds 7 and 8");
        assert_ne!(b, &zero, "{t}");
    }
    let _ = std::fs::remove_file(&config);
}
