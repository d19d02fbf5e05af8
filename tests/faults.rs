//! Fault tests of the nightly refresh (issue 6): readers during a refresh see
//! the whole old dataset or the whole new one; a refresh killed, terminated or
//! interrupted at any point leaves the live data untouched and the next run
//! succeeds; schema drift is reported at once before anything is written;
//! `clean` removes exactly the synthetic rows; passwords never leak; hostile
//! schema names are refused.
//!
//! Every test owns a database on the real server. The heavy ones run one at a
//! time (`HEAVY`) so their timings mean something on a 2-core machine. Every
//! wait is bounded and every child process is killed if a test fails. Each
//! scenario prints a `FAULT |` line with what it measured (run with
//! `--nocapture` to see them; the table in docs/refresh.md is built from them).

mod common;

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio_postgres::Client;

/// Heavy tests run one at a time (tokio's Mutex works across the tests' runtimes).
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A refresh big enough that its COPY and index phases last a second or more.
const BIG: &[&str] = &[
    "--band",
    "dev",
    "--messages",
    "150000",
    "--users",
    "2000",
    "--conversations",
    "3000",
];

fn tmp_path(name: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("chatsynth-faults-{}-{name}", std::process::id()))
}

/// A chatsynth child process, killed on drop if still running; its output goes
/// to files so it can never block on a full pipe.
struct Proc {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    started: Instant,
}

impl Proc {
    fn spawn(tag: &str, args: &[&str]) -> Proc {
        let (out, err) = (
            tmp_path(&format!("{tag}.out")),
            tmp_path(&format!("{tag}.err")),
        );
        let child = Command::new(env!("CARGO_BIN_EXE_chatsynth"))
            .args(args)
            .env_remove("DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .spawn()
            .expect("spawn chatsynth");
        Proc {
            child,
            out,
            err,
            started: Instant::now(),
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.pid()), sig)
            .unwrap_or_else(|e| panic!("kill({}, {sig}): {e}", self.pid()));
    }

    /// Waits for the exit, at most `limit`; kills the child and panics beyond it.
    async fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "chatsynth did not exit within {limit:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.out);
        let _ = std::fs::remove_file(&self.err);
    }
}

fn run_ok(args: &[&str]) -> std::process::Output {
    let o = chatsynth(args);
    assert!(
        o.status.success(),
        "chatsynth {args:?} failed: {}\n{}",
        stderr(&o),
        stdout(&o)
    );
    o
}

fn report_arg(tag: &str) -> String {
    tmp_path(&format!("{tag}.json"))
        .to_string_lossy()
        .into_owned()
}

async fn stage_schemas(c: &Client) -> i64 {
    count(
        c,
        "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs\\_stage\\_%'",
    )
    .await
}

/// (command, status, error) of every ledger row, oldest first.
async fn ledger(c: &Client) -> Vec<(String, String, Option<String>)> {
    c.query(
        "SELECT command, status, error FROM chatsynth_runs ORDER BY started_at, run_id",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// Backends of other sessions in database `db` (what chatsynth may have left).
async fn other_backends(c: &Client, db: &str) -> Vec<(i32, String, String)> {
    c.query(
        "SELECT pid, coalesce(state, ''), left(query, 60) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
        &[&db],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// Polls (every 5 ms, at most `limit`) for an active backend of `db` whose
/// query is LIKE `pattern`; returns its pid. Panics if the run ends first.
async fn wait_for_query(c: &Client, p: &mut Proc, db: &str, pattern: &str, limit: Duration) -> i32 {
    let deadline = Instant::now() + limit;
    loop {
        let rows = c
            .query(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state = 'active' \
                 AND query LIKE $2 AND pid <> pg_backend_pid()",
                &[&db, &pattern],
            )
            .await
            .unwrap();
        if let Some(r) = rows.first() {
            return r.get(0);
        }
        assert!(
            p.running(),
            "the run ended before a query like {pattern:?} was seen:\n{}",
            p.stderr()
        );
        assert!(
            Instant::now() < deadline,
            "no query like {pattern:?} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits (bounded) until no backend of the run is left in `db`; returns how
/// long that took and what was still there at the first look.
async fn wait_backends_gone(c: &Client, db: &str, limit: Duration) -> (Duration, Vec<String>) {
    let t = Instant::now();
    let first: Vec<String> = other_backends(c, db)
        .await
        .iter()
        .map(|(_, s, q)| format!("{s}: {q}"))
        .collect();
    loop {
        let left = other_backends(c, db).await;
        if left.is_empty() {
            return (t.elapsed(), first);
        }
        assert!(
            t.elapsed() < limit,
            "backends still there after {limit:?}: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const PW: &str = "Sup3rS3cret-pw";

// ---------------------------------------------------------------------------
// 1. Readers during a refresh
// ---------------------------------------------------------------------------

/// One reader observation, taken by ONE statement (one snapshot under READ
/// COMMITTED): counts of the seven tables, a checksum of the user ids, messages
/// whose sender is missing, and a sample of messages joined to their senders.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Observation {
    counts: Vec<i64>,
    user_ids_md5: String,
    orphan_messages: i64,
    sample: String,
}

const OBSERVE_SQL: &str = r#"SELECT
    (SELECT count(*) FROM users), (SELECT count(*) FROM conversations),
    (SELECT count(*) FROM conversation_users), (SELECT count(*) FROM messages),
    (SELECT count(*) FROM attachments), (SELECT count(*) FROM message_reads),
    (SELECT count(*) FROM message_receipts),
    (SELECT coalesce(md5(string_agg(id, ',' ORDER BY id)), '') FROM users),
    (SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = m."senderId")),
    (SELECT coalesce(string_agg(m.id || ':' || u.email, ',' ORDER BY m.id), '')
       FROM (SELECT id, "senderId" FROM messages ORDER BY id LIMIT 20) m JOIN users u ON u.id = m."senderId")"#;

async fn observe(c: &Client) -> Result<Observation, String> {
    let r = c
        .query_one(OBSERVE_SQL, &[])
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(Observation {
        counts: (0..7).map(|i| r.get(i)).collect(),
        user_ids_md5: r.get(7),
        orphan_messages: r.get(8),
        sample: r.get(9),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_see_the_whole_old_or_the_whole_new_dataset() {
    let _heavy = HEAVY.lock().await;
    let db = TestDb::new("readers").await;
    let c = db.client().await;
    let old_args = [
        "--messages",
        "120000",
        "--users",
        "2500",
        "--conversations",
        "4000",
        "--seed",
        "1",
    ];
    let mut args = vec![
        "load",
        "--band",
        "dev",
        "--database-url",
        &db.url,
        "--no-progress",
    ];
    let report = report_arg("readers-load");
    args.extend(["--report", &report]);
    args.extend(old_args);
    run_ok(&args);
    let old = observe(&c).await.unwrap();

    // Two readers: one statement per observation (a consistent snapshot), and
    // short multi-statement READ COMMITTED transactions reading the tables in
    // the reverse order of the swap's locks, back to back (they must never hit
    // a deadlock).
    let stop = Arc::new(AtomicBool::new(false));
    let r1 = {
        let (stop, reader) = (stop.clone(), db.client().await);
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let o = observe(&reader).await;
                seen.push((o, t.elapsed()));
                assert!(seen.len() < 100_000);
            }
            seen
        })
    };
    let r2 = {
        let (stop, reader) = (stop.clone(), db.client().await);
        tokio::spawn(async move {
            let mut errors = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let mut sql = String::from("BEGIN ISOLATION LEVEL READ COMMITTED;");
                for t in TABLES.iter().rev() {
                    sql.push_str(&format!("SELECT id FROM \"{t}\" ORDER BY id LIMIT 5;"));
                }
                sql.push_str("COMMIT;");
                n += 1;
                if let Err(e) = reader.batch_execute(&sql).await {
                    errors.push(format!("{e:?}"));
                    let _ = reader.batch_execute("ROLLBACK").await;
                }
            }
            (n, errors)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let report = report_arg("readers-refresh");
    let mut args = vec![
        "refresh",
        "--band",
        "dev",
        "--database-url",
        &db.url,
        "--no-progress",
        "--report",
        &report,
        "--messages",
        "150000",
        "--users",
        "3000",
        "--conversations",
        "5000",
        "--seed",
        "2",
    ];
    args.push("--workers");
    args.push("2");
    let mut p = Proc::spawn("readers", &args);
    let status = p.wait(Duration::from_secs(240)).await;
    let refresh_s = p.started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = r1.await.unwrap();
    let (n2, errors2) = r2.await.unwrap();
    assert!(status.success(), "refresh failed: {}", p.stderr());
    assert!(p.stdout().contains("report:"), "{}", p.stdout());

    let new = observe(&c).await.unwrap();
    assert_ne!(old.counts, new.counts);
    assert_ne!(old.user_ids_md5, new.user_ids_md5);
    assert_ne!(old.sample, new.sample);
    assert_eq!(new.counts[0], 3000);
    assert_eq!(new.counts[3], 150_000);
    assert_eq!(old.orphan_messages, 0);
    assert_eq!(new.orphan_messages, 0);

    let (mut n_old, mut n_new, mut max_wait) = (0, 0, Duration::ZERO);
    for (i, (o, took)) in seen.iter().enumerate() {
        let o = o
            .as_ref()
            .unwrap_or_else(|e| panic!("observation {i} failed: {e}"));
        max_wait = max_wait.max(*took);
        if *o == old {
            assert_eq!(
                n_new, 0,
                "observation {i}: the old data came back after the new"
            );
            n_old += 1;
        } else if *o == new {
            n_new += 1;
        } else {
            panic!("observation {i} is neither the old nor the new dataset: {o:?}\nold {old:?}\nnew {new:?}");
        }
    }
    assert!(n_old > 0 && n_new > 0, "old {n_old}, new {n_new}");
    assert!(
        errors2.is_empty(),
        "a multi-statement reader failed: {errors2:?}"
    );
    let c2 = db.client().await;
    let l = ledger(&c2).await;
    assert_eq!(l.last().unwrap().1, "COMPLETED");
    let rep: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let swap = rep["post_load"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "swap into the target schema")
        .cloned()
        .unwrap();
    let mut took: Vec<f64> = seen.iter().map(|(_, d)| d.as_secs_f64() * 1000.0).collect();
    took.sort_by(f64::total_cmp);
    println!(
        "FAULT | readers during a refresh | {} single-statement observations ({n_old} old, {n_new} new, 0 mixed, 0 errors; median {:.0} ms, longest {:.0} ms), {n2} multi-statement transactions, 0 errors; swap {:.0} ms ({}) | refresh {refresh_s:.1}s | new dataset, ledger COMPLETED",
        seen.len(),
        took[took.len() / 2],
        max_wait.as_secs_f64() * 1000.0,
        swap["elapsed_ms"].as_f64().unwrap_or(0.0),
        swap["detail"].as_str().unwrap_or("first attempt")
    );
}

// ---------------------------------------------------------------------------
// 2. Killing a refresh
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Fault {
    Kill,
    TerminateCopyBackend,
    Int,
    Term,
}

#[derive(Clone, Copy, Debug)]
enum Point {
    Copy,
    Index,
    Validation,
}

impl Point {
    fn pattern(self) -> &'static str {
        match self {
            Point::Copy => "COPY \"cs\\_stage\\_public\".\"messages\"%",
            Point::Index => "CREATE %INDEX % ON \"cs\\_stage\\_public\".%",
            Point::Validation => "-- validate:%",
        }
    }
}

/// Loads a tiny live dataset, starts a bigger refresh, injects `fault` at
/// `point`, and checks what the database holds afterwards and that the next
/// refresh succeeds. Returns nothing; prints its FAULT line.
async fn refresh_fault(tag: &str, fault: Fault, point: Point) {
    let _heavy = HEAVY.lock().await;
    let db = TestDb::new(tag).await;
    let c = db.client().await;
    let report = report_arg(&format!("{tag}-live"));
    run_ok(&[
        "load",
        "--band",
        "tiny",
        "--database-url",
        &db.url,
        "--report",
        &report,
        "--no-progress",
    ]);
    let live = checksums(&c, "public").await;

    let report = report_arg(tag);
    let mut args = vec![
        "refresh",
        "--database-url",
        &db.url,
        "--seed",
        "2",
        "--report",
        &report,
        "--no-progress",
    ];
    args.extend_from_slice(BIG);
    let mut p = Proc::spawn(tag, &args);
    let pid = wait_for_query(
        &c,
        &mut p,
        &db.name,
        point.pattern(),
        Duration::from_secs(120),
    )
    .await;
    let t = Instant::now();
    match fault {
        Fault::Kill => p.signal(Signal::SIGKILL),
        Fault::Int => p.signal(Signal::SIGINT),
        Fault::Term => p.signal(Signal::SIGTERM),
        Fault::TerminateCopyBackend => {
            let ok: bool = c
                .query_one("SELECT pg_terminate_backend($1)", &[&pid])
                .await
                .unwrap()
                .get(0);
            assert!(ok);
        }
    }
    let status = p.wait(Duration::from_secs(60)).await;
    let exit_ms = t.elapsed().as_secs_f64() * 1000.0;
    let err = p.stderr();
    assert!(!err.contains("panicked"), "{err}");
    let last_err_line = err
        .lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("")
        .to_string();

    // What the run left behind.
    let (gone_after, left_at_exit) =
        wait_backends_gone(&c, &db.name, Duration::from_secs(60)).await;
    let idle_in_tx = left_at_exit
        .iter()
        .filter(|s| s.starts_with("idle in transaction"))
        .count();
    assert_eq!(
        idle_in_tx, 0,
        "idle in transaction after the run: {left_at_exit:?}"
    );
    let stages = stage_schemas(&c).await;
    let l = ledger(&c).await;
    let (_, status_row, error_row) = l.last().cloned().unwrap();
    assert_eq!(l.len(), 2, "{l:?}");
    assert_eq!(checksums(&c, "public").await, live, "the live data changed");
    match fault {
        Fault::Kill => {
            assert_eq!(status.code(), None, "killed by a signal");
            assert_eq!(status_row, "RUNNING");
            assert_eq!(stages, 1, "a SIGKILLed run leaves its staging schema");
        }
        Fault::Int | Fault::Term | Fault::TerminateCopyBackend => {
            let want = match fault {
                Fault::Int => 130,
                Fault::Term => 143,
                _ => 1,
            };
            assert_eq!(status.code(), Some(want), "{err}");
            assert_eq!(status_row, "FAILED");
            assert!(error_row.is_some());
            // A handled failure keeps the stage when it holds committed
            // units (for --resume) and says so; otherwise it drops it. After
            // the COPY phase every unit is committed, so the stage is kept.
            if matches!(point, Point::Index | Point::Validation) {
                assert_eq!(stages, 1, "the committed stage was dropped: {err}");
            }
            if stages == 1 {
                assert!(
                    count(&c, "SELECT count(*) FROM cs_stage_public.cs_progress").await > 0,
                    "a stage without committed units was kept"
                );
                assert!(err.contains("`chatsynth refresh --resume`"), "{err}");
            } else {
                assert_eq!(stages, 0);
                assert!(!err.contains("--resume"), "{err}");
            }
            assert_eq!(
                err.lines().filter(|l| l.starts_with("error:")).count(),
                1,
                "{err}"
            );
            let report: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
            let outcome = report["outcome"].as_str().unwrap_or("").to_string();
            assert_ne!(outcome, "completed");
            if let Fault::TerminateCopyBackend = fault {
                assert!(
                    last_err_line.contains("COPY into messages failed during phase 'messages'"),
                    "the error must name the table and phase: {err}"
                );
                assert!(exit_ms < 10_000.0, "took {exit_ms} ms to exit");
            } else {
                assert!(last_err_line.contains("interrupted by SIG"), "{err}");
                assert!(exit_ms < 10_000.0, "took {exit_ms} ms to exit");
            }
        }
    }

    // The next (plain) refresh succeeds, removes any leftover stage (kept or
    // killed) and closes the ledger.
    let t_next = Instant::now();
    let report = report_arg(&format!("{tag}-next"));
    let o = run_ok(&[
        "refresh",
        "--band",
        "tiny",
        "--seed",
        "3",
        "--database-url",
        &db.url,
        "--report",
        &report,
        "--no-progress",
    ]);
    let next_s = t_next.elapsed().as_secs_f64();
    assert!(!stdout(&o).is_empty());
    assert_eq!(stage_schemas(&c).await, 0);
    let l = ledger(&c).await;
    let statuses: Vec<&str> = l.iter().map(|x| x.1.as_str()).collect();
    assert_eq!(statuses, ["COMPLETED", "FAILED", "COMPLETED"], "{l:?}");
    assert_eq!(count(&c, "SELECT count(*) FROM messages").await, 10_000);
    assert_ne!(checksums(&c, "public").await, live);
    println!(
        "FAULT | {fault:?} during {point:?} | exit {:?} ({}) | {exit_ms:.0} ms to exit; run's backends gone {:.0} ms later (at exit: {left_at_exit:?}) | live data unchanged, {stages} staging schema(s), ledger {status_row}; next refresh OK in {next_s:.1}s",
        status.code(),
        last_err_line,
        gone_after.as_secs_f64() * 1000.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_copy_leaves_the_live_data_and_the_next_run_cleans_up() {
    refresh_fault("kill_copy", Fault::Kill, Point::Copy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_index_builds_leaves_the_live_data_and_the_next_run_cleans_up() {
    refresh_fault("kill_index", Fault::Kill, Point::Index).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_copy_backend_fails_the_run_fast_naming_table_and_phase() {
    refresh_fault("term_backend", Fault::TerminateCopyBackend, Point::Copy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_during_copy_exits_130_and_the_next_run_starts_clean() {
    refresh_fault("sigint_copy", Fault::Int, Point::Copy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_index_builds_exits_143_and_keeps_the_stage_for_resume() {
    refresh_fault("sigterm_index", Fault::Term, Point::Index).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_during_pre_swap_validation_exits_130() {
    refresh_fault("sigint_validate", Fault::Int, Point::Validation).await;
}

/// An orphaned backend still holding the staging tables (what a SIGKILLed
/// run's server-side index build looks like on a big band) must not make the
/// next run wait or fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leftover_backend_on_the_stage_does_not_block_the_next_run() {
    let _heavy = HEAVY.lock().await;
    let db = TestDb::new("orphan").await;
    let c = db.client().await;
    let report = report_arg("orphan-live");
    run_ok(&[
        "load",
        "--band",
        "tiny",
        "--database-url",
        &db.url,
        "--report",
        &report,
        "--no-progress",
    ]);
    let live = checksums(&c, "public").await;
    // A stage left by a killed run, with a session still inside it.
    c.batch_execute(
        "CREATE SCHEMA cs_stage_public; CREATE TABLE cs_stage_public.users (LIKE public.users)",
    )
    .await
    .unwrap();
    let orphan = db.client().await;
    orphan
        .batch_execute("BEGIN; LOCK TABLE cs_stage_public.users IN SHARE MODE")
        .await
        .unwrap();
    let t = Instant::now();
    let report = report_arg("orphan");
    let o = chatsynth(&[
        "refresh",
        "--band",
        "tiny",
        "--seed",
        "5",
        "--database-url",
        &db.url,
        "--report",
        &report,
        "--no-progress",
    ]);
    let took = t.elapsed().as_secs_f64();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(took < 20.0, "the next run waited {took:.1}s for the orphan");
    assert_eq!(stage_schemas(&c).await, 0);
    assert_ne!(checksums(&c, "public").await, live);
    println!(
        "FAULT | leftover session holding a lock on cs_stage_public | next refresh terminated it and succeeded | {took:.1}s | new dataset, no staging schema"
    );
}

// ---------------------------------------------------------------------------
// 3. Schema drift
// ---------------------------------------------------------------------------

#[tokio::test]
async fn schema_drift_is_one_error_listing_every_mismatch_and_writes_nothing() {
    let db = TestDb::new("drift").await;
    let c = db.client().await;
    apply_schema(&c, "public").await;
    c.batch_execute(
        r#"
        SET search_path TO public;
        ALTER TABLE messages RENAME COLUMN "content" TO "body";
        ALTER TYPE "MessageType" RENAME TO "MessageType_old";
        CREATE TYPE "MessageType" AS ENUM ('TEXT', 'IMAGE', 'FILE', 'AUDIO', 'VIDEO', 'LOCATION');
        ALTER TABLE messages ALTER COLUMN "type" DROP DEFAULT,
            ALTER COLUMN "type" TYPE "MessageType" USING "type"::text::"MessageType",
            ALTER COLUMN "type" SET DEFAULT 'TEXT';
        DROP TYPE "MessageType_old";
        ALTER TABLE users ADD COLUMN "tenantId" TEXT NOT NULL;
        "#,
    )
    .await
    .unwrap();
    let schema_before: i64 = count(&c, "SELECT count(*) FROM pg_class").await;
    for cmd in ["load", "refresh"] {
        let t = Instant::now();
        let report = report_arg(&format!("drift-{cmd}"));
        let o = chatsynth(&[
            cmd,
            "--band",
            "tiny",
            "--database-url",
            &db.url,
            "--report",
            &report,
            "--no-progress",
        ]);
        let took = t.elapsed().as_secs_f64() * 1000.0;
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {err}");
        assert_eq!(err.matches("error:").count(), 1, "one error: {err}");
        for want in [
            "column messages.\"content\" is missing",
            "enum \"MessageType\" lacks the label 'SYSTEM'",
            "column users.\"tenantId\" is NOT NULL without a default",
        ] {
            assert!(err.contains(want), "{cmd}: {want:?} not in {err}");
        }
        for t in TABLES {
            assert_eq!(count(&c, &format!("SELECT count(*) FROM \"{t}\"")).await, 0);
        }
        assert_eq!(stage_schemas(&c).await, 0);
        assert_eq!(
            count(
                &c,
                "SELECT count(*) FROM pg_tables WHERE tablename = 'chatsynth_runs'"
            )
            .await,
            0
        );
        assert_eq!(
            count(&c, "SELECT count(*) FROM pg_class").await,
            schema_before
        );
        println!(
            "FAULT | schema drift ({cmd}): renamed column, enum without SYSTEM, extra NOT NULL column | one error listing all three, exit 2 | {took:.0} ms | nothing written (no rows, no stage, no ledger)"
        );
    }
}

// ---------------------------------------------------------------------------
// 4. Clean keeps look-alike real rows
// ---------------------------------------------------------------------------

/// Ids left in each table, sorted.
async fn ids(c: &Client, schema: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for t in TABLES {
        let rows = c
            .query(
                &format!("SELECT id FROM \"{schema}\".\"{t}\" ORDER BY id"),
                &[],
            )
            .await
            .unwrap();
        out.push(rows.iter().map(|r| r.get(0)).collect());
    }
    out
}

#[tokio::test]
async fn clean_removes_exactly_what_cascades_from_synthetic_users() {
    let db = TestDb::new("clean").await;
    let c = db.client().await;
    let report = report_arg("clean-load");
    run_ok(&[
        "load",
        "--band",
        "tiny",
        "--database-url",
        &db.url,
        "--report",
        &report,
        "--no-progress",
    ]);
    let syn: Vec<String> = c
        .query("SELECT id FROM users ORDER BY id LIMIT 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let syn_conv: String = c
        .query_one("SELECT id FROM conversations ORDER BY id LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    let syn_msg: String = c
        .query_one("SELECT id FROM messages ORDER BY id LIMIT 1", &[])
        .await
        .unwrap()
        .get(0);
    // Real users whose emails look like the marker but are not it, with rows
    // of their own that also reference synthetic users and messages.
    c.execute(
        r#"
        INSERT INTO users (id, email, username, "updatedAt") VALUES
          ('real_u1', 'synergy@corp.test', 'synergy', now()),
          ('real_u2', 'syn-x@corp.test', 'syn-x', now()),
          ('real_u3', 'SYN_upper@corp.test', 'SYN_upper', now())"#,
        &[],
    )
    .await
    .unwrap();
    c.execute(
        r#"INSERT INTO conversations (id, type, "creatorId", "updatedAt") VALUES
          ('real_c1', 'GROUP_CHAT', 'real_u1', now())"#,
        &[],
    )
    .await
    .unwrap();
    for (id, user, conv) in [
        ("real_cu1", "real_u1", "real_c1"),
        ("real_cu2", "real_u2", "real_c1"),
        ("real_cu3", syn[0].as_str(), "real_c1"),
        ("real_cu4", "real_u3", syn_conv.as_str()),
    ] {
        c.execute(
            r#"INSERT INTO conversation_users (id, "userId", "conversationId", "updatedAt") VALUES ($1, $2, $3, now())"#,
            &[&id, &user, &conv],
        )
        .await
        .unwrap();
    }
    // Messages: by a real user (kept), by a synthetic member in the real room
    // (removed: its sender goes), a real reply to that one and a real reply to
    // a synthetic message elsewhere (kept, replyToId set to NULL), and a real
    // user's message in the synthetic room (removed: the room goes with its
    // synthetic creator).
    for (id, sender, conv, reply) in [
        ("real_m1", "real_u1", "real_c1", None),
        ("real_m2", syn[0].as_str(), "real_c1", None),
        ("real_m3", "real_u2", "real_c1", Some("real_m2")),
        ("real_m4", "real_u1", "real_c1", Some(syn_msg.as_str())),
        ("real_m5", "real_u3", syn_conv.as_str(), None),
    ] {
        c.execute(
            r#"INSERT INTO messages (id, content, "idempotencyKey", "senderId", "conversationId", "replyToId", "updatedAt")
               VALUES ($1, 'hello', $1, $2, $3, $4, now())"#,
            &[&id, &sender, &conv, &reply],
        )
        .await
        .unwrap();
    }
    c.batch_execute(&format!(
        r#"
        INSERT INTO attachments (id, filename, "originalName", "mimeType", size, url, type, "uploaderId", "messageId", "updatedAt") VALUES
          ('real_a1', 'a.png', 'a.png', 'image/png', 10, 'https://corp.test/a', 'IMAGE', 'real_u1', 'real_m1', now()),
          ('real_a2', 'b.png', 'b.png', 'image/png', 10, 'https://corp.test/b', 'IMAGE', '{s0}', 'real_m1', now()),
          ('real_a3', 'c.png', 'c.png', 'image/png', 10, 'https://corp.test/c', 'IMAGE', 'real_u2', '{m}', now());
        INSERT INTO message_reads (id, "userId", "messageId", "updatedAt") VALUES
          ('real_r1', 'real_u2', 'real_m1', now()),
          ('real_r2', '{s0}', 'real_m1', now()),
          ('real_r3', 'real_u1', 'real_m2', now()),
          ('real_r4', 'real_u1', '{m}', now());
        INSERT INTO message_receipts (id, state, "userId", "messageId", "updatedAt") VALUES
          ('real_x1', 'READ', 'real_u2', 'real_m1', now()),
          ('real_x2', 'READ', '{s0}', 'real_m1', now()),
          ('real_x3', 'DELIVERED', 'real_u1', 'real_m2', now());
        "#,
        s0 = syn[0],
        m = syn_msg
    ))
    .await
    .unwrap();

    // The oracle: what the foreign keys' own cascades do when the synthetic
    // users are deleted (in a transaction that is rolled back).
    c.batch_execute("BEGIN; DELETE FROM users WHERE starts_with(email, 'syn_')")
        .await
        .unwrap();
    let want = ids(&c, "public").await;
    let want_replies: Vec<(String, Option<String>)> = pairs(
        &c,
        "SELECT id, \"replyToId\" FROM messages WHERE id LIKE 'real%' ORDER BY id",
    )
    .await;
    c.batch_execute("ROLLBACK").await.unwrap();

    let t = Instant::now();
    let o = run_ok(&["clean", "--database-url", &db.url]);
    let took = t.elapsed().as_secs_f64() * 1000.0;
    let got = ids(&c, "public").await;
    assert_eq!(got, want, "clean differs from the foreign keys' cascade");
    let got_replies: Vec<(String, Option<String>)> = pairs(
        &c,
        "SELECT id, \"replyToId\" FROM messages WHERE id LIKE 'real%' ORDER BY id",
    )
    .await;
    assert_eq!(got_replies, want_replies);

    // Spelled out: what stays and what goes.
    let flat: Vec<&str> = got.iter().flatten().map(|s| s.as_str()).collect();
    let kept = [
        "real_u1", "real_u2", "real_u3", "real_c1", "real_cu1", "real_cu2", "real_m1", "real_m3",
        "real_m4", "real_a1", "real_r1", "real_x1",
    ];
    for k in kept {
        assert!(flat.contains(&k), "{k} must survive");
    }
    let mut real_left: Vec<&str> = flat
        .iter()
        .copied()
        .filter(|s| s.starts_with("real_"))
        .collect();
    real_left.sort();
    let mut kept_sorted = kept.to_vec();
    kept_sorted.sort();
    assert_eq!(real_left, kept_sorted, "only these real rows survive");
    assert_eq!(
        got_replies,
        vec![
            ("real_m1".to_string(), None),
            ("real_m3".to_string(), None),
            ("real_m4".to_string(), None),
        ]
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM users WHERE starts_with(email, 'syn_')"
        )
        .await,
        0
    );
    assert_eq!(got[0].len(), 3, "only the three real users are left");
    assert!(stdout(&o).contains("other rows kept"), "{}", stdout(&o));
    println!(
        "FAULT | clean with look-alike real users (synergy@, syn-x@, SYN_upper@) | every synthetic row removed, the FK cascade's survivors kept exactly | {took:.0} ms | 3 users, 1 conversation, 2 members, 3 messages (replies to removed ones set NULL), 1 attachment, 1 read, 1 receipt"
    );
}

// ---------------------------------------------------------------------------
// 5. Passwords never leak
// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_password_in_the_url_never_appears_in_output_or_report() {
    let db = TestDb::new("password").await;
    let c = db.client().await;
    let url = format!("postgres://postgres:{PW}@127.0.0.1:5432/{}", db.name);
    let wrong_port = format!("postgres://postgres:{PW}@127.0.0.1:1/{}", db.name);
    let cases: [(&str, &str, Option<i32>); 4] = [
        ("ok", url.as_str(), Some(0)),
        ("refused", url.as_str(), Some(2)),
        ("wrong-port", wrong_port.as_str(), Some(2)),
        ("bad-schema", url.as_str(), Some(2)),
    ];
    for (tag, u, want) in cases {
        let report = report_arg(&format!("pw-{tag}"));
        let _ = std::fs::remove_file(&report);
        let mut args = vec![
            "load",
            "--band",
            "tiny",
            "--database-url",
            u,
            "--report",
            &report,
            "--no-progress",
        ];
        if tag == "bad-schema" {
            args.extend(["--schema", "a\"b"]);
        }
        let o = chatsynth(&args);
        assert_eq!(o.status.code(), want, "{tag}: {}", stderr(&o));
        let written = std::fs::read_to_string(&report).unwrap_or_default();
        for (what, text) in [
            ("stdout", stdout(&o)),
            ("stderr", stderr(&o)),
            ("report", written.clone()),
        ] {
            assert!(
                !text.contains(PW),
                "{tag}: the password is in {what}:\n{text}"
            );
            assert!(
                !text.contains("Sup3rS3cret"),
                "{tag}: part of the password is in {what}"
            );
        }
        if tag != "bad-schema" {
            assert!(
                !written.is_empty(),
                "{tag}: a report is written even on failure"
            );
        }
        let _ = std::fs::remove_file(&report);
    }
    // Nor in the database's own ledger.
    let leaked = count(
        &c,
        &format!("SELECT count(*) FROM chatsynth_runs WHERE row_to_json(chatsynth_runs)::text LIKE '%{PW}%'"),
    )
    .await;
    assert_eq!(leaked, 0);
    println!(
        "FAULT | password in --database-url (load ok, refused, wrong port, bad schema) | never in stdout, stderr, report JSON or chatsynth_runs | - | -"
    );
}

// ---------------------------------------------------------------------------
// 6. Hostile schema names
// ---------------------------------------------------------------------------

#[tokio::test]
async fn hostile_schema_names_are_refused_before_anything_runs() {
    let db = TestDb::new("hostile").await;
    let c = db.client().await;
    let report = report_arg("hostile-load");
    run_ok(&[
        "load",
        "--band",
        "tiny",
        "--database-url",
        &db.url,
        "--report",
        &report,
        "--no-progress",
    ]);
    let before = checksums(&c, "public").await;
    let schemas = "SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace";
    let ns_before: String = c.query_one(schemas, &[]).await.unwrap().get(0);
    let long = "a".repeat(200);
    let hostile = [
        "x; DROP TABLE users",
        "a\"b",
        "pg_catalog",
        long.as_str(),
        "public; DROP SCHEMA public CASCADE; --",
        "cs_stage_public",
        "",
    ];
    for bad in hostile {
        for cmd in [
            &["load", "--band", "tiny"][..],
            &["refresh", "--band", "tiny"],
            &["clean"],
        ] {
            let mut args = cmd.to_vec();
            let report = report_arg("hostile");
            args.extend(["--database-url", &db.url, "--schema", bad]);
            if cmd[0] != "clean" {
                args.extend(["--report", &report]);
            }
            let o = chatsynth(&args);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{cmd:?} --schema {bad:?}: {err}");
            assert!(err.contains("not allowed"), "{bad:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{err}");
        }
    }
    let ns_after: String = c.query_one(schemas, &[]).await.unwrap().get(0);
    assert_eq!(ns_after, ns_before, "a schema was created or dropped");
    assert_eq!(checksums(&c, "public").await, before);
    assert_eq!(
        ledger(&c).await.len(),
        1,
        "no run was recorded for a refused schema"
    );
    println!(
        "FAULT | hostile --schema ('x; DROP TABLE users', 'a\"b', pg_catalog, 200 chars, cs_stage_public, '') for load, refresh, clean | refused, exit 2, one line | - | nothing executed: same schemas, same rows, no ledger row"
    );
}
