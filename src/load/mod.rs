//! `chatsynth load`: the whole run against a database.
//!
//! 1. plan (exact counts) and value pools;
//! 2. connect, take the schema's advisory lock, create the tables from
//!    `sql/schema.sql` when the schema has none, preflight the schema, refuse a
//!    non-empty target without `--truncate` and non-synthetic rows without
//!    `--allow-non-synthetic` (nothing written yet);
//! 3. read the target's indexes and constraints from its catalog and create
//!    bare copies of its tables in a staging schema;
//! 4. phases in foreign-key order, each a pipeline of generator threads ->
//!    bounded channels -> parallel binary COPY streams into the staging tables;
//! 5. build every index (several at once), then primary/unique constraints,
//!    foreign keys, ANALYZE;
//! 6. check that the rows of the application's own tables whose foreign keys
//!    point into the chat tables still find what they reference in the new
//!    data (`external`);
//! 7. swap: one short transaction replaces the target tables with the staged
//!    ones. Until then the target is untouched. On a signal or a database,
//!    COPY or connection error the stage is kept for `--resume` when it
//!    holds committed units, and dropped otherwise (and on a failed check);
//!    a plain run drops whatever stage it finds, except a prepared sharded
//!    run's, which it refuses to touch without `--abandon-run`.

mod size;
mod streams;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use tokio::task::JoinSet;

use crate::catalog::{self, deferred, external, ledger, stage as staging};
use crate::config::{DatasetConfig, PipelineConfig};
use crate::db::{quote_ident, Target};
use crate::error::{DbContext, Error, Result};
use crate::gen::pipeline::{run_phase, Committed, Pass};
use crate::gen::{pools::Pools, Plan};
use crate::model::{Command, Outcome, PerTable, Table};
use crate::progress::{Counters, Progress};
use crate::report::{PhaseReport, RunReport, StepReport, TargetInfo};
use crate::util::fingerprint::Fingerprint;

/// Everything a load needs, validated.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub dataset: DatasetConfig,
    pub pipeline: PipelineConfig,
    pub target: Target,
    pub truncate: bool,
    pub allow_non_synthetic: bool,
    /// Where to write the report; `None` = `reports/<band>-<seed>-<time>.json`.
    pub report_path: Option<PathBuf>,
    pub fancy_progress: bool,
    /// Concurrent index builds after the load.
    pub index_workers: usize,
    /// `maintenance_work_mem` for index builds, e.g. "512MB".
    pub maintenance_work_mem: String,
    /// `load` or `refresh` (recorded in the report and the ledger).
    pub command: Command,
    /// The private cluster's data directory, when that is the target: the
    /// preflight compares the size estimate with its disk's free space.
    pub private_data_dir: Option<PathBuf>,
    /// `--no-space-check`: report the estimate, but do not refuse.
    pub no_space_check: bool,
    /// A whole run, a resume, or one of the three steps of a sharded load.
    pub mode: Mode,
    /// `--abandon-run RUN`: a whole run or `--prepare` may drop the stage of
    /// this sharded run (otherwise refused while it is in the schema).
    pub abandon_run: Option<String>,
}

/// What a `load` (or `refresh`) run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Stage, load every unit, build, check, swap.
    Whole,
    /// Continue the failed or killed run whose stage is left in the schema.
    Resume,
    /// `--prepare`: preflight and create the stage of a sharded run, then stop.
    Prepare,
    /// `--shard index/count --run RUN`: stream this shard's units into the
    /// prepared stage (no lock, no builds); a rerun skips its committed units.
    Shard { index: u32, count: u32, run: String },
    /// `--finish --run RUN`: once every shard is done, build, check, swap.
    Finish { run: String },
}

/// A check of the staged dataset that must pass before the swap may replace
/// the live one (`refresh` passes validate's integrity checks). `load` knows
/// only this trait, so it does not depend on `validate`.
pub trait StagedCheck: Sync {
    /// What is checked, for the report's step name.
    fn name(&self) -> &'static str;
    /// One sentence per failure on the dataset in `staged`'s schema; empty when it passes.
    fn failures<'a>(
        &'a self,
        staged: &'a Target,
        dataset: &'a DatasetConfig,
    ) -> BoxFuture<'a, Result<Vec<String>>>;
}

/// Runs a load and writes its report (also when it fails). Returns the report.
/// With `pre_swap`, the staged data must pass it before the swap.
pub async fn run(
    opts: &LoadOptions,
    pre_swap: Option<&dyn StagedCheck>,
) -> Result<(RunReport, PathBuf)> {
    let started = Instant::now();
    // Enum choices without values take the target's labels before planning:
    // the report's dataset and the config digest record them.
    let filled;
    let opts = if crate::rules::labels_needed(&opts.dataset.columns).is_empty() {
        opts
    } else {
        let client = opts.target.connect().await?;
        let types = catalog::schema::enum_types(&client, &opts.target.schema).await?;
        let mut dataset = opts.dataset.clone();
        let problems =
            crate::rules::fill_enum_labels(&mut dataset.columns, |n| types.get(n).cloned());
        if !problems.is_empty() {
            return Err(Error::Config(format!(
                "invalid configuration: {}; nothing was written",
                problems.join("; ")
            )));
        }
        filled = LoadOptions {
            dataset,
            ..opts.clone()
        };
        &filled
    };
    let (plan, pools, plan_ms) = crate::gen::prepare(&opts.dataset).await?;
    let mut report = RunReport::new(
        opts.command,
        &opts.dataset,
        plan.realised.clone(),
        opts.pipeline.clone(),
    );
    report.plan_ms = plan_ms;
    let path = opts
        .report_path
        .clone()
        .unwrap_or_else(|| report.default_path());
    let result = run_inner(opts, pre_swap, plan, pools, &mut report).await;
    report.conclude(started, result, path)
}

async fn run_inner(
    opts: &LoadOptions,
    pre_swap: Option<&dyn StagedCheck>,
    plan: Arc<Plan>,
    pools: Arc<Pools>,
    report: &mut RunReport,
) -> Result<()> {
    let target = &opts.target;
    let schema = target.schema.clone();
    let mut control = target.connect().await?;
    crate::db::refuse_read_only(&control).await?;
    report.session_settings = Some(crate::db::session_settings(&control).await?);
    let server_version = crate::db::server_version(&control).await?;
    report.target = Some(TargetInfo {
        database: target.display.clone(),
        schema: schema.clone(),
        server_version,
    });
    let digest = config_digest(&opts.dataset);
    if let Mode::Shard { index, count, run } = &opts.mode {
        // Shards run side by side: no schema lock; they only add units to
        // the prepared stage.
        return run_shard(
            opts, plan, pools, report, control, &digest, *index, *count, run,
        )
        .await;
    }
    catalog::try_lock(&control, &schema).await?;
    guard_sharded_run(opts, &control, &schema).await?;
    // A --resume or --finish is checked before anything is written.
    let resumed = match &opts.mode {
        Mode::Resume => Some(resumable(&control, &schema, &digest, None).await?),
        Mode::Finish { run } => {
            let id = resumable(&control, &schema, &digest, Some(run)).await?;
            let (count, missing) =
                staging::shards_missing(&control, &staging::stage_schema(&schema)).await?;
            if count == 0 || !missing.is_empty() {
                return Err(Error::Refused(format!(
                    "cannot finish run {run}: {}; nothing was written. Run the missing shards (load --shard i/n --run {run}) first",
                    if count == 0 {
                        "no shard has run".to_string()
                    } else {
                        format!(
                            "shard(s) {} not done ({})",
                            missing.iter().map(|(i, _)| format!("{i}/{count}")).collect::<Vec<_>>().join(", "),
                            missing.iter().map(|(i, s)| format!("{i}/{count}: {s}")).collect::<Vec<_>>().join("; ")
                        )
                    }
                )));
            }
            Some(id)
        }
        _ => None,
    };

    // Preflight: nothing is written until every check has passed.
    report.size_estimate = Some(size_preflight(opts, &control, &plan).await?);
    let present = catalog::existing_tables(&control, &schema).await?;
    if present.is_empty() {
        // Created in a transaction that the preflight runs in: committed only
        // when it passes, so a refused run leaves the schema as it was.
        crate::progress::note(&format!(
            "creating the chat tables in schema {schema:?} from sql/schema.sql"
        ));
        let tx = catalog::schema::create_tables(&mut control, &schema).await?;
        catalog::schema::preflight(&tx, &schema, &opts.dataset.columns).await?;
        catalog::children::preflight(&tx, &schema, &opts.dataset.tables, &opts.dataset.columns)
            .await?;
        tx.commit().await.step("committing the new tables")?;
        report
            .choices
            .push("created the tables from sql/schema.sql".into());
    } else {
        catalog::schema::preflight(&control, &schema, &opts.dataset.columns).await?;
        catalog::children::preflight(
            &control,
            &schema,
            &opts.dataset.tables,
            &opts.dataset.columns,
        )
        .await?;
    }
    let tables = catalog::tables_with_children(opts.dataset.tables.keys());
    let (non_empty, foreign) = catalog::occupancy(&control, &schema, &tables).await?;
    if !non_empty.is_empty() && !opts.truncate {
        return Err(Error::Refused(format!(
            "the target tables already hold rows ({}); nothing was written. Pass --truncate to replace them",
            non_empty.join(", ")
        )));
    }
    if foreign > 0 && !opts.allow_non_synthetic {
        return Err(Error::Refused(format!(
            "{foreign} users in {schema:?} are not synthetic (their email does not start with 'syn_'): this looks like a real database; nothing was written. Pass --allow-non-synthetic to replace them anyway"
        )));
    }
    let deferred = deferred::read_deferred(&control, &schema, &tables).await?;
    let run_id = resumed.clone().unwrap_or_else(|| {
        format!(
            "{}-{}",
            crate::util::calendar::compact(crate::util::calendar::now_ms()),
            std::process::id()
        )
    });
    report.run_id = Some(run_id.clone());
    let ds = &opts.dataset;
    // From the first write on, SIGINT/SIGTERM are caught (a signal arriving
    // before the work starts is delivered at the select below), so the run
    // always ends through the cleanup: stage dropped, ledger FAILED.
    let mut shutdown = Shutdown::install()?;
    if resumed.is_some() {
        ledger::resume(&control, &run_id).await?;
    } else {
        ledger::start(
            &control,
            &run_id,
            opts.command,
            ds.band.name(),
            ds.seed,
            &digest,
        )
        .await?;
    }
    report.choices.push(format!(
        "loaded into bare staging tables, then built {} indexes and {} foreign keys read from the target's catalog, then swapped them in",
        deferred.indexes.len(),
        deferred.foreign_keys.len()
    ));
    report
        .choices
        .push("COPY sessions use synchronous_commit = off".into());
    let mut committed = Committed::default();
    let mut skipped_fp = SkippedFingerprints::default();
    let stage = if resumed.is_some() {
        let stopped = staging::stop_stage_sessions(&control, &schema).await?;
        if stopped > 0 {
            crate::progress::note(&format!(
                "terminated {stopped} session(s) of the earlier attempt still working in the stage"
            ));
        }
        let stage = staging::stage_schema(&schema);
        let mut r = crate::report::ResumeReport {
            run_id: run_id.clone(),
            ..Default::default()
        };
        let units = staging::committed_units(&control, &stage).await?;
        take_committed(&plan, units, &mut committed, &mut skipped_fp, &mut r);
        crate::progress::note(&format!(
            "resuming run {run_id}: {} rows in {} units already committed are skipped",
            r.skipped_rows.values().sum::<u64>(),
            r.skipped_units.values().sum::<u64>()
        ));
        report.resumed = Some(r);
        stage
    } else {
        if let Some((stale, _)) = staging::stage_run(&control, &schema).await? {
            crate::progress::note(&format!(
                "dropping the stage left by run {stale} (a failed, interrupted or killed run, or an abandoned sharded run) and starting over"
            ));
        }
        staging::create_stage(
            &control,
            target,
            &tables,
            &run_id,
            &digest,
            opts.mode == Mode::Prepare,
        )
        .await?
    };
    if opts.mode == Mode::Prepare {
        crate::progress::note(&format!(
            "prepared run {run_id}: now run `load --shard i/n --run {run_id}` for i = 0..n-1 (same dataset options), then `load --finish --run {run_id}`"
        ));
        return Ok(());
    }
    let committed = Arc::new(committed);
    let skipped_rows: SkippedRows = report
        .resumed
        .as_ref()
        .map(|r| r.skipped_rows.clone())
        .unwrap_or_default();

    let cancel = Arc::new(AtomicBool::new(false));
    // Everything before the swap can be interrupted, the pre-swap check
    // included (a signal that went unnoticed there let the swap go ahead).
    let work = async {
        load_and_build(
            opts,
            plan,
            pools,
            &stage,
            &deferred,
            report,
            cancel.clone(),
            committed,
            &skipped_rows,
        )
        .await?;
        add_fingerprints(report, &skipped_fp);
        ledger::progress(
            &control,
            &run_id,
            &progress_per_table(report, &skipped_rows),
        )
        .await?;
        if let Some(check) = pre_swap {
            pre_swap_check(check, target, &stage, ds, report).await?;
        }
        let t = Instant::now();
        let keys = external::check_against_stage(&control, &schema, &stage, &tables).await?;
        if keys > 0 {
            report.post_load.push(StepReport::since(
                "rows of other tables checked against the new data",
                t,
                Some(format!("{keys} foreign keys into the chat tables")),
            ));
        }
        Ok(())
    };
    let outcome = tokio::select! {
        r = work => r,
        (name, code) = shutdown.recv() => Err(Error::Interrupted { name, exit_code: code }),
    };
    if let Err(e) = outcome {
        cancel.store(true, Ordering::Relaxed);
        if let Mode::Finish { .. } = opts.mode {
            // The shards' work stays in the stage: --finish can be run again.
            let _ = ledger::finish(
                &control,
                &run_id,
                Outcome::Failed,
                &serde_json::Value::Null,
                Some(&e.to_string()),
            )
            .await;
        } else {
            cleanup(opts, &control, &run_id, &e).await;
        }
        return Err(e);
    }

    let t = Instant::now();
    let rows = rows_per_table(report, &skipped_rows);
    // Not interruptible: one transaction, bounded by SWAP_LOCK_PATIENCE; a
    // signal arriving now is ignored and the run completes.
    let attempts = match staging::swap(&mut control, &schema, &run_id, &rows, &tables).await {
        Ok(n) => n,
        Err(e) => {
            cleanup(opts, &control, &run_id, &e).await;
            return Err(e);
        }
    };
    report.post_load.push(StepReport::since(
        "swap into the target schema",
        t,
        (attempts > 1).then(|| format!("locked the live tables at attempt {attempts}")),
    ));
    Ok(())
}

/// Estimates the bytes the load puts on disk; on the private cluster, refuses
/// when they do not fit its disk's free space (unless `--no-space-check`).
async fn size_preflight(
    opts: &LoadOptions,
    control: &tokio_postgres::Client,
    plan: &Plan,
) -> Result<crate::report::SizeEstimate> {
    let row = control
        .query_one(
            "SELECT current_setting('wal_level') <> 'minimal', \
             pg_size_bytes(current_setting('max_wal_size')), \
             pg_database_size(current_database())",
            &[],
        )
        .await
        .step("reading wal_level, max_wal_size and the database size")?;
    let (wal_logs_indexes, max_wal, db_bytes): (bool, i64, i64) =
        (row.get(0), row.get(1), row.get(2));
    let rows = size::rows(&expected_rows(plan));
    let mut e = size::estimate(&rows, wal_logs_indexes, max_wal.max(0) as u64);
    match &opts.private_data_dir {
        Some(dir) => {
            let free = size::free_bytes(dir)?;
            e.free_bytes = Some(free);
            e.checked = !opts.no_space_check;
            crate::progress::note(&size::describe(&e));
            if e.checked {
                size::check_fits(&e, free, dir)?;
            }
        }
        None => {
            e.database_bytes = Some(db_bytes.max(0) as u64);
            crate::progress::note(&size::describe(&e));
        }
    }
    Ok(e)
}

/// After a failure: marks the run FAILED in the ledger and, when the failure
/// is one a retry can get past (a signal, a lost connection, a database or
/// COPY error) and the stage holds committed units, keeps the stage for
/// `--resume` and says so on stderr; otherwise drops it. Tries a fresh
/// connection when the control connection is gone.
async fn cleanup(
    opts: &LoadOptions,
    control: &tokio_postgres::Client,
    run_id: &str,
    error: &Error,
) {
    let target = &opts.target;
    let retryable = matches!(
        error,
        Error::Interrupted { .. }
            | Error::Connect { .. }
            | Error::Db { .. }
            | Error::Copy { .. }
            | Error::Io { .. }
    );
    async fn tidy(
        c: &tokio_postgres::Client,
        schema: &str,
        run_id: &str,
        message: &str,
        retryable: bool,
    ) -> Result<i64> {
        let units = if retryable {
            staging::committed_unit_count(c, schema).await?
        } else {
            0
        };
        if units == 0 {
            staging::drop_stage(c, schema).await?;
        } else {
            // Its in-flight COPYs and index builds would otherwise go on
            // until the server notices the closed sockets.
            staging::stop_stage_sessions(c, schema).await?;
        }
        ledger::finish(
            c,
            run_id,
            Outcome::Failed,
            &serde_json::Value::Null,
            Some(message),
        )
        .await?;
        Ok(units)
    }
    let message = error.to_string();
    let kept = match tidy(control, &target.schema, run_id, &message, retryable).await {
        Ok(units) => Ok(units),
        Err(_) => match target.connect().await {
            Ok(c) => tidy(&c, &target.schema, run_id, &message, retryable).await,
            Err(e) => {
                crate::progress::warn(&format!(
                    "could not reconnect to clean up ({e}); the next run will"
                ));
                return;
            }
        },
    };
    match kept {
        Ok(0) => {}
        Ok(units) => {
            let cmd = opts.command.as_str();
            crate::progress::note(&format!(
                "kept the stage of run {run_id} in schema {:?} ({units} committed units): `chatsynth {cmd} --resume` with the same dataset options continues it; a plain `chatsynth {cmd}` drops it and starts over",
                staging::stage_schema(&target.schema)
            ));
        }
        Err(e) => crate::progress::warn(&format!(
            "could not clean up after the failure ({e}); the next run will"
        )),
    }
}

/// A prepared sharded run's stage is not dropped or taken over without
/// `--abandon-run` naming it ([`staging::guard_sharded_run`]).
async fn guard_sharded_run(
    opts: &LoadOptions,
    control: &tokio_postgres::Client,
    schema: &str,
) -> Result<()> {
    if !matches!(opts.mode, Mode::Whole | Mode::Prepare | Mode::Resume) {
        return Ok(());
    }
    staging::guard_sharded_run(
        control,
        schema,
        opts.command.as_str(),
        opts.abandon_run.as_deref(),
        opts.mode != Mode::Resume,
    )
    .await
}

/// sha256 of the dataset configuration: equal digests, equal data.
fn config_digest(cfg: &DatasetConfig) -> String {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(cfg).expect("config serializes");
    Sha256::digest(json)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Rows per table in the stage: written by this run plus skipped (committed
/// by the attempt it resumed).
fn rows_per_table(report: &RunReport, skipped: &SkippedRows) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for t in report.phases.iter().flat_map(|p| &p.tables) {
        let before = skipped_of(skipped, &t.table);
        m.insert(t.table.clone(), (t.rows + before).into());
    }
    serde_json::Value::Object(m)
}

/// Rows per table (built-in or declared) committed by earlier attempts.
type SkippedRows = std::collections::BTreeMap<String, u64>;

fn skipped_of(skipped: &SkippedRows, table: &str) -> u64 {
    skipped.get(table).copied().unwrap_or(0)
}

/// Adds the stage's committed `units` that `committed` does not hold yet
/// (another shard's slice is already in it) to it, and counts them per table
/// name (declared child tables included): their fingerprints, and their rows
/// and units in the resume report.
fn take_committed(
    plan: &Plan,
    units: Vec<(String, u32, u64, Fingerprint)>,
    committed: &mut Committed,
    skipped_fp: &mut SkippedFingerprints,
    r: &mut crate::report::ResumeReport,
) {
    for (name, unit, rows, fp) in units {
        let new = if let Some(t) = Table::ALL.iter().find(|t| t.name() == name) {
            committed[*t].insert(unit)
        } else if let Some(i) = plan.children.iter().position(|c| c.name == name) {
            committed.insert_child(i, unit)
        } else {
            false
        };
        if new {
            *skipped_fp.entry(name.clone()).or_default() += fp;
            *r.skipped_rows.entry(name.clone()).or_default() += rows;
            *r.skipped_units.entry(name).or_default() += 1;
        }
    }
}

/// The combined fingerprint per table name (built-in or declared) of the
/// units committed by earlier attempts or other shards.
type SkippedFingerprints = std::collections::BTreeMap<String, Fingerprint>;

/// Adds the fingerprints of the units skipped (committed earlier) to the
/// report's per-table fingerprints, which then cover every unit of the run
/// (or of the shard).
fn add_fingerprints(report: &mut RunReport, skipped: &SkippedFingerprints) {
    for t in report.phases.iter_mut().flat_map(|p| p.tables.iter_mut()) {
        if let Some(fp) = skipped.get(&t.table) {
            t.fingerprint += *fp;
        }
    }
}

/// The ledger's progress per table: rows skipped and rows written.
fn progress_per_table(report: &RunReport, skipped: &SkippedRows) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for t in report.phases.iter().flat_map(|p| &p.tables) {
        let before = skipped_of(skipped, &t.table);
        m.insert(
            t.table.clone(),
            serde_json::json!({
                "skipped_rows": before,
                "written_rows": t.rows,
                "fingerprint": t.fingerprint.to_string(),
            }),
        );
    }
    serde_json::Value::Object(m)
}

/// The run a `--resume` continues: the stage left in `schema` by a failed or
/// killed run, made with the same configuration. Refused otherwise, before
/// anything is written.
async fn resumable(
    control: &tokio_postgres::Client,
    schema: &str,
    digest: &str,
    expect: Option<&str>,
) -> Result<String> {
    let Some((run_id, was)) = staging::stage_run(control, schema).await? else {
        return Err(Error::Refused(match expect {
            None => format!(
                "nothing to resume: no stage of a failed or killed run is left in schema {schema:?}; nothing was written. Run without --resume"
            ),
            Some(run) => format!(
                "run {run} was not prepared in schema {schema:?} (no stage): run `load --prepare` first; nothing was written"
            ),
        }));
    };
    if let Some(run) = expect {
        same_run(run, &run_id, schema)?;
    }
    if let Some((last, status, _)) = ledger::last_run(control).await? {
        if last == run_id && status == "COMPLETED" {
            return Err(Error::Refused(format!(
                "nothing to resume: run {run_id} completed; nothing was written"
            )));
        }
    }
    if was != digest {
        return Err(Error::Refused(format!(
            "cannot continue run {run_id}: it was started with a different configuration (seed, band or overrides; config digest {} here, {} there); nothing was written. Give the same dataset options",
            short_digest(digest),
            short_digest(&was)
        )));
    }
    Ok(run_id)
}

/// The staged dataset must pass `check` before it may replace the live one.
async fn pre_swap_check(
    check: &dyn StagedCheck,
    target: &Target,
    stage: &str,
    ds: &DatasetConfig,
    report: &mut RunReport,
) -> Result<()> {
    let t = Instant::now();
    let failures = check.failures(&target.with_schema(stage), ds).await?;
    report.post_load.push(StepReport::since(
        check.name(),
        t,
        Some(format!("{} failures", failures.len())),
    ));
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::Other(format!(
            "the new dataset failed validation, the live data was left as it was: {}",
            failures.join("; ")
        )))
    }
}

/// SIGINT and SIGTERM, caught from `install` on (a signal that arrives before
/// `recv` is polled is kept and delivered by it).
struct Shutdown {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Shutdown {
    pub fn install() -> Result<Shutdown> {
        use tokio::signal::unix::{signal, SignalKind};
        let int = signal(SignalKind::interrupt())
            .map_err(|e| Error::io("installing the SIGINT handler", e))?;
        let term = signal(SignalKind::terminate())
            .map_err(|e| Error::io("installing the SIGTERM handler", e))?;
        Ok(Shutdown { int, term })
    }

    /// Resolves on SIGINT or SIGTERM with the signal's name and exit code.
    pub(crate) async fn recv(&mut self) -> (&'static str, u8) {
        tokio::select! {
            _ = self.int.recv() => ("SIGINT", 130),
            _ = self.term.recv() => ("SIGTERM", 143),
        }
    }
}

/// The row counts the plan fixes in advance (the children's are drawn).
fn expected_rows(plan: &Plan) -> PerTable<Option<u64>> {
    let c = &plan.cfg.counts;
    let mut e = PerTable::default();
    e[Table::Users] = Some(c.users);
    e[Table::Conversations] = Some(c.conversations);
    e[Table::ConversationUsers] = Some(plan.members.len() as u64);
    e[Table::Messages] = Some(c.messages);
    e
}

/// Connections the load needs at once: every COPY stream of a phase holds
/// one for the whole phase, so the pool must hold the busiest phase's streams,
/// the declared child tables' (one each) included, or a stream waits for a
/// connection while the generators wait for it; and the index builds and
/// foreign-key validations, beside the session that adds the constraints.
fn pool_size(plan: &Plan, p: &PipelineConfig, index_workers: usize) -> usize {
    Pass::ALL
        .iter()
        .map(|pass| {
            pass.tables()
                .iter()
                .map(|t| streams::streams_for(*t, p.streams_per_large_table))
                .sum::<usize>()
                + pass.children(plan).len()
        })
        .max()
        .unwrap_or(1)
        .max(index_workers + 1)
}

#[allow(clippy::too_many_arguments)]
async fn load_and_build(
    opts: &LoadOptions,
    plan: Arc<Plan>,
    pools: Arc<Pools>,
    stage: &str,
    deferred: &deferred::Deferred,
    report: &mut RunReport,
    cancel: Arc<AtomicBool>,
    committed: Arc<Committed>,
    skipped: &SkippedRows,
) -> Result<()> {
    let p = &opts.pipeline;
    let stage_target = opts.target.with_schema(stage);
    let pool = stage_target.pool(pool_size(&plan, p, opts.index_workers))?;
    let st = Staging {
        opts,
        target: stage_target,
        pool,
    };
    let rows_by_table = load_passes(&st, &plan, &pools, report, cancel, committed, skipped).await?;
    build_deferred(&st, deferred, &rows_by_table, report).await
}

/// Every pass into the stage, skipping the units in `committed`; returns the
/// rows per table in the stage (`skipped` included).
async fn load_passes(
    st: &Staging<'_>,
    plan: &Arc<Plan>,
    pools: &Arc<Pools>,
    report: &mut RunReport,
    cancel: Arc<AtomicBool>,
    committed: Arc<Committed>,
    skipped: &SkippedRows,
) -> Result<PerTable<u64>> {
    let mut rows_by_table = PerTable::default();
    for pass in Pass::ALL {
        let phase = copy_phase(pass, st, plan, pools, cancel.clone(), committed.clone()).await?;
        for t in &phase.tables {
            if let Some(x) = Table::ALL.iter().find(|x| x.name() == t.table) {
                rows_by_table[*x] = t.rows + skipped_of(skipped, &t.table);
            }
        }
        report.phases.push(phase);
    }
    Ok(rows_by_table)
}

/// Where the rows of a load go before the swap: the options, the staging
/// schema's target and the pool of its connections (the COPY phases and the
/// deferred builds share them).
struct Staging<'a> {
    opts: &'a LoadOptions,
    target: Target,
    pool: deadpool_postgres::Pool,
}

/// One phase into the staging tables, with the live progress display.
async fn copy_phase(
    pass: Pass,
    st: &Staging<'_>,
    plan: &Arc<Plan>,
    pools: &Arc<Pools>,
    cancel: Arc<AtomicBool>,
    committed: Arc<Committed>,
) -> Result<PhaseReport> {
    let opts = st.opts;
    let counters = Arc::new(Counters::default());
    let ctx = streams::StreamCtx {
        target: st.target.clone(),
        pool: st.pool.clone(),
        phase: pass.name(),
        counters: counters.clone(),
        cancel: cancel.clone(),
        plan: plan.clone(),
    };
    let mut consumer = streams::CopyStreams::new(ctx, opts.pipeline.streams_per_large_table);
    let progress = Progress::start(
        pass.name(),
        pass.tables(),
        expected_rows(plan),
        counters,
        opts.fancy_progress,
    );
    let phase = run_phase(
        pass,
        plan,
        pools,
        &opts.pipeline,
        &mut consumer,
        cancel,
        committed,
    )
    .await;
    progress.finish().await;
    phase
}

/// Refuses a `--run` that is not the run prepared in `schema`'s stage.
fn same_run(run: &str, prepared: &str, schema: &str) -> Result<()> {
    if run == prepared {
        return Ok(());
    }
    Err(Error::Refused(format!(
        "run {run} is not the run prepared in schema {schema:?} (that is {prepared}); nothing was written"
    )))
}

/// The first 12 hex digits of a config digest, for messages.
fn short_digest(d: &str) -> &str {
    &d[..12.min(d.len())]
}

/// `load --shard index/count --run RUN`: this shard's units (unit `u` of
/// every pass when `u % count == index`) into the prepared stage, skipping
/// those a killed attempt of this shard committed; then marks the shard done.
#[allow(clippy::too_many_arguments)]
async fn run_shard(
    opts: &LoadOptions,
    plan: Arc<Plan>,
    pools: Arc<Pools>,
    report: &mut RunReport,
    control: tokio_postgres::Client,
    digest: &str,
    index: u32,
    count: u32,
    run: &str,
) -> Result<()> {
    let schema = &opts.target.schema;
    let Some((run_id, was)) = staging::stage_run(&control, schema).await? else {
        return Err(Error::Refused(format!(
            "run {run} was not prepared in schema {schema:?} (no stage): run `load --prepare` first; nothing was written"
        )));
    };
    same_run(run, &run_id, schema)?;
    if was != digest {
        return Err(Error::Refused(format!(
            "shard {index}/{count} of run {run} has a different configuration from the prepared run (seed, band or overrides; config digest {} here, {} there); nothing was written. Give every shard the same dataset options",
            short_digest(digest),
            short_digest(&was)
        )));
    }
    let stage = staging::stage_schema(schema);
    staging::claim_shard(&control, &stage, index, count).await?;
    report.run_id = Some(run.to_string());
    report.choices.push(format!(
        "shard {index}/{count}: units u with u % {count} == {index}"
    ));
    let mut committed = crate::gen::pipeline::other_shards(&plan, index, count);
    let mut r = crate::report::ResumeReport {
        run_id: run.to_string(),
        ..Default::default()
    };
    let mut skipped_fp = SkippedFingerprints::default();
    let units = staging::committed_units(&control, &stage).await?;
    take_committed(&plan, units, &mut committed, &mut skipped_fp, &mut r);
    let skipped_rows = r.skipped_rows.clone();
    if !r.skipped_units.is_empty() {
        report.resumed = Some(r);
    }
    let mut shutdown = Shutdown::install()?;
    let stage_target = opts.target.with_schema(&stage);
    let pool = stage_target.pool(pool_size(&plan, &opts.pipeline, 1))?;
    let st = Staging {
        opts,
        target: stage_target,
        pool,
    };
    let cancel = Arc::new(AtomicBool::new(false));
    let work = load_passes(
        &st,
        &plan,
        &pools,
        report,
        cancel.clone(),
        Arc::new(committed),
        &skipped_rows,
    );
    let outcome = tokio::select! {
        r = work => r,
        (name, code) = shutdown.recv() => Err(Error::Interrupted { name, exit_code: code }),
    };
    if let Err(e) = outcome {
        // The stage is the run's: its committed units stay for a rerun of this shard.
        cancel.store(true, Ordering::Relaxed);
        let message = e.to_string();
        if staging::shard_failed(&control, &stage, index, &message)
            .await
            .is_err()
        {
            if let Ok(c) = opts.target.connect().await {
                let _ = staging::shard_failed(&c, &stage, index, &message).await;
            }
        }
        return Err(e);
    }
    add_fingerprints(report, &skipped_fp);
    let mut rows = 0;
    let mut fps = serde_json::Map::new();
    for t in report.phases.iter().flat_map(|p| &p.tables) {
        rows += t.rows + skipped_of(&skipped_rows, &t.table);
        fps.insert(t.table.clone(), t.fingerprint.to_string().into());
    }
    staging::shard_done(&control, &stage, index, rows, &fps.into()).await
}

/// Builds the indexes, then attaches primary/unique constraints, adds
/// foreign keys, and analyses: each step timed into the report.
async fn build_deferred(
    st: &Staging<'_>,
    deferred: &deferred::Deferred,
    rows_by_table: &PerTable<u64>,
    report: &mut RunReport,
) -> Result<()> {
    let opts = st.opts;
    crate::progress::note(&format!(
        "building {} indexes on {} connections, then {} foreign keys, then ANALYZE",
        deferred.indexes.len(),
        opts.index_workers,
        deferred.foreign_keys.len()
    ));
    let stage = &st.target.schema;
    let client = st.target.pooled(&st.pool).await?;
    // A resumed run finds what the earlier attempt built (an index build cut
    // off mid-way left nothing: CREATE INDEX is one transaction).
    let (relations, constraints) = staging::stage_objects(&client, stage).await?;
    let mut deferred = deferred.clone();
    let before = deferred.indexes.len() + deferred.foreign_keys.len();
    let attach: Vec<deferred::IndexDdl> = deferred
        .indexes
        .iter()
        .filter(|ix| !constraints.contains(&ix.name))
        .cloned()
        .collect();
    deferred.indexes.retain(|ix| !relations.contains(&ix.name));
    deferred
        .foreign_keys
        .retain(|fk| !constraints.contains(&fk.name));
    let found = before - deferred.indexes.len() - deferred.foreign_keys.len();
    if let Some(r) = report.resumed.as_mut() {
        r.skipped_builds = found as u64;
    }
    build_indexes(st, &deferred, rows_by_table, report).await?;
    deferred.indexes = attach;
    let deferred = &deferred;
    client
        .batch_execute(&format!(
            "SET search_path TO {}, {}",
            quote_ident(stage),
            quote_ident(&opts.target.schema),
        ))
        .await
        .step("setting up the constraint session")?;
    attach_constraints(&client, stage, deferred, report).await?;
    add_foreign_keys(st, &client, deferred, rows_by_table, report).await?;
    analyze(&client, stage, &opts.dataset, report).await
}

/// One statement (or, for a table's foreign keys, one run of statements) for a
/// worker connection.
struct Job {
    table: String,
    /// (report label, SQL) run one after the other on one connection.
    steps: Vec<(String, String)>,
}

/// Runs `jobs` on `workers` connections at once, biggest tables first, each
/// connection set up with `setup` first; every statement timed into the
/// returned steps (longest first). `hold` names the test hook
/// `CHATSYNTH_TEST_HOLD` value that stops the run after the first job.
async fn run_jobs(
    st: &Staging<'_>,
    mut jobs: Vec<Job>,
    rows_by_table: &PerTable<u64>,
    what: &'static str,
    setup: String,
    hold: &'static str,
) -> Result<Vec<StepReport>> {
    let rows_of = |name: &str| {
        Table::ALL
            .iter()
            .find(|t| t.name() == name)
            .map_or(0, |t| rows_by_table[*t])
    };
    jobs.sort_by_key(|j| std::cmp::Reverse(rows_of(&j.table)));
    let progress = Arc::new(crate::progress::Steps::new(
        what,
        jobs.iter().map(|j| j.steps.len()).sum(),
        st.opts.fancy_progress,
    ));
    let queue = Arc::new(std::sync::Mutex::new(jobs.into_iter()));
    let mut workers = JoinSet::new();
    for _ in 0..st.opts.index_workers.max(1) {
        workers.spawn(job_worker(
            queue.clone(),
            st.pool.clone(),
            st.target.clone(),
            setup.clone(),
            progress.clone(),
            hold,
        ));
    }
    let mut steps = Vec::new();
    while let Some(r) = workers.join_next().await {
        let r = r.map_err(|e| Error::Other(format!("{what} task: {e}")))?;
        match r {
            Ok(done) => steps.extend(done),
            Err(e) => {
                workers.abort_all();
                return Err(e);
            }
        }
    }
    steps.sort_by(|a, b| b.elapsed_ms.total_cmp(&a.elapsed_ms));
    Ok(steps)
}

/// One connection running jobs from `queue` until it is empty.
async fn job_worker(
    queue: Arc<std::sync::Mutex<std::vec::IntoIter<Job>>>,
    pool: deadpool_postgres::Pool,
    target: Target,
    setup: String,
    progress: Arc<crate::progress::Steps>,
    hold: &'static str,
) -> Result<Vec<StepReport>> {
    let client = target.pooled(&pool).await?;
    client
        .batch_execute(&setup)
        .await
        .step("setting up a post-load session")?;
    let mut done = Vec::new();
    loop {
        let job = queue.lock().expect("post-load queue").next();
        let Some(job) = job else { break };
        for (label, sql) in job.steps {
            let t = Instant::now();
            client
                .batch_execute(&sql)
                .await
                .step(format!("{label} on {}", job.table))?;
            progress.finished(
                &format!("{label} on {}", job.table),
                t.elapsed().as_secs_f64(),
            );
            done.push(StepReport::since(label, t, Some(job.table.clone())));
        }
        if std::env::var("CHATSYNTH_TEST_HOLD").is_ok_and(|v| v == hold) {
            // Test hook: stop here after the first job, for a kill -9.
            crate::progress::note(&format!("test hook: holding the {hold}"));
            std::future::pending::<()>().await;
        }
    }
    Ok(done)
}

/// The index builds, `index_workers` at once, biggest tables first.
async fn build_indexes(
    st: &Staging<'_>,
    deferred: &deferred::Deferred,
    rows_by_table: &PerTable<u64>,
    report: &mut RunReport,
) -> Result<()> {
    let opts = st.opts;
    let started = Instant::now();
    let jobs = deferred
        .indexes
        .iter()
        .map(|ix| Job {
            table: ix.table.clone(),
            steps: vec![(format!("index {}", ix.name), ix.create.clone())],
        })
        .collect();
    let setup = format!(
        "SET maintenance_work_mem = {}",
        crate::db::quote_literal(&opts.maintenance_work_mem)
    );
    let steps = run_jobs(st, jobs, rows_by_table, "indexes", setup, "indexes").await?;
    report.post_load.push(StepReport::since(
        "indexes (all)",
        started,
        Some(format!(
            "{} indexes, {} at once",
            steps.len(),
            opts.index_workers
        )),
    ));
    report.builds.extend(steps);
    Ok(())
}

/// Turns the built unique indexes that back primary keys and unique
/// constraints into those constraints.
async fn attach_constraints(
    client: &deadpool_postgres::Object,
    stage: &str,
    deferred: &deferred::Deferred,
    report: &mut RunReport,
) -> Result<()> {
    let t = Instant::now();
    for ix in &deferred.indexes {
        if let Some(sql) = deferred::attach_constraint_sql(stage, ix) {
            client
                .batch_execute(&sql)
                .await
                .step(format!("adding constraint {} on {}", ix.name, ix.table))?;
        }
    }
    report
        .post_load
        .push(StepReport::since("primary and unique constraints", t, None));
    Ok(())
}

/// Adds the foreign keys `NOT VALID` (catalog only), then validates them on
/// `index_workers` connections at once, one table's keys per connection.
///
/// `ADD FOREIGN KEY` locks the referenced table in SHARE ROW EXCLUSIVE mode,
/// which conflicts with itself, so keys into `users` or `messages` could only
/// be added one at a time. `VALIDATE CONSTRAINT` takes SHARE UPDATE EXCLUSIVE
/// on its own table and ROW SHARE on the referenced one: keys on different
/// tables validate side by side. The validation is the same anti join either
/// way. A resumed run validates the keys an earlier attempt added but did not
/// validate; a key that is `NOT VALID` in the target stays so.
async fn add_foreign_keys(
    st: &Staging<'_>,
    client: &deadpool_postgres::Object,
    deferred: &deferred::Deferred,
    rows_by_table: &PerTable<u64>,
    report: &mut RunReport,
) -> Result<()> {
    let stage = &st.target.schema;
    let t = Instant::now();
    for fk in &deferred.foreign_keys {
        client
            .batch_execute(&deferred::foreign_key_sql(stage, fk, true))
            .await
            .step(format!("adding foreign key {} on {}", fk.name, fk.table))?;
    }
    let mut by_table: std::collections::BTreeMap<String, Vec<(String, String)>> =
        Default::default();
    for (table, name) in staging::unvalidated_foreign_keys(client, stage).await? {
        if deferred.not_valid_in_target(&table, &name) {
            continue;
        }
        let sql = format!(
            "ALTER TABLE {}.{} VALIDATE CONSTRAINT {}",
            quote_ident(stage),
            quote_ident(&table),
            quote_ident(&name)
        );
        by_table
            .entry(table)
            .or_default()
            .push((format!("foreign key {name}"), sql));
    }
    let jobs = by_table
        .into_iter()
        .map(|(table, steps)| Job { table, steps })
        .collect();
    // Validating a foreign key is an anti join of the child against the
    // parent's keys, hashed within `work_mem`. At the server's default (4 MB)
    // the hash of 2M message ids splits into batches and every batch rereads
    // its share of the child from temp files (docs/scale.md, "Foreign keys"),
    // so these sessions give it the index builds' memory.
    let setup = format!(
        "SET maintenance_work_mem = {mem}; SET work_mem = {mem}",
        mem = crate::db::quote_literal(&st.opts.maintenance_work_mem)
    );
    let steps = run_jobs(st, jobs, rows_by_table, "foreign keys", setup, "keys").await?;
    report.post_load.push(StepReport::since(
        "foreign keys (all)",
        t,
        Some(format!(
            "{} validated, {} at once",
            steps.len(),
            st.opts.index_workers
        )),
    ));
    report.builds.extend(steps);
    Ok(())
}

async fn analyze(
    client: &deadpool_postgres::Object,
    stage: &str,
    ds: &DatasetConfig,
    report: &mut RunReport,
) -> Result<()> {
    let t = Instant::now();
    let names: Vec<String> = catalog::tables_with_children(ds.tables.keys())
        .iter()
        .map(|x| format!("{}.{}", quote_ident(stage), quote_ident(x)))
        .collect();
    client
        .batch_execute(&format!("ANALYZE {}", names.join(", ")))
        .await
        .step("analysing the new tables")?;
    report.post_load.push(StepReport::since("ANALYZE", t, None));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_holds_every_stream_of_the_busiest_phase() {
        let mut cfg = crate::config::Band::Tiny.preset();
        let p = PipelineConfig {
            workers: 2,
            streams_per_large_table: 2,
            chunk_bytes: 256 << 10,
            channel_chunks: 8,
        };
        let plan = Plan::build(&cfg);
        let base = pool_size(&plan, &p, 1);
        // attachments, reads, and receipts on `streams`.
        assert_eq!(base, 2 + p.streams_per_large_table);
        for name in ["a", "b"] {
            cfg.tables.insert(
                name.into(),
                toml::from_str("parent = \"messages\"\nrate = 0.1").unwrap(),
            );
        }
        assert_eq!(pool_size(&Plan::build(&cfg), &p, 1), base + 2);
        assert_eq!(pool_size(&plan, &p, 64), 65);
    }
}
