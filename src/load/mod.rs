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
//!    ones. Until then the target is untouched; on any error or signal the
//!    staging schema is dropped, and a killed run's leftovers are dropped by
//!    the next run.

pub mod ddl;
pub mod external;
pub mod pipeline;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinSet;

use crate::config::{DatasetConfig, PipelineConfig};
use crate::db::{quote_ident, Target};
use crate::error::{DbContext, Error, Result};
use crate::gen::{pools::Pools, Plan};
use crate::model::Table;
use crate::progress::Progress;
use crate::report::{
    per_sec, GeneratorReport, Percentiles, PhaseReport, RunReport, StepReport, TableReport,
    TargetInfo,
};
use pipeline::{Counters, Pass, StreamStats};

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
    /// `load` or `refresh` (refresh validates the staged data before the swap).
    pub command: &'static str,
}

/// Runs a load and writes its report (also when it fails). Returns the report.
pub async fn run(opts: &LoadOptions) -> Result<(RunReport, PathBuf)> {
    let started = Instant::now();
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
    let result = run_inner(opts, plan, pools, &mut report).await;
    report.conclude(started, result, path)
}

async fn run_inner(
    opts: &LoadOptions,
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
    ddl::try_lock(&control, &schema).await?;

    // Preflight: nothing is written until every check has passed.
    let present = ddl::existing_tables(&control, &schema).await?;
    if present.is_empty() {
        crate::progress::note(&format!(
            "creating the chat tables in schema {schema:?} from sql/schema.sql"
        ));
        ddl::create_tables(&mut control, &schema).await?;
        report
            .choices
            .push("created the tables from sql/schema.sql".into());
    }
    ddl::preflight(&control, &schema).await?;
    let (non_empty, foreign) = ddl::occupancy(&control, &schema).await?;
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
    let deferred = ddl::read_deferred(&control, &schema).await?;
    let run_id = format!(
        "{}-{}",
        crate::gen::calendar::compact(crate::gen::calendar::now_ms()),
        std::process::id()
    );
    report.run_id = Some(run_id.clone());
    let ds = &opts.dataset;
    // From the first write on, SIGINT/SIGTERM are caught (a signal arriving
    // before the work starts is delivered at the select below), so the run
    // always ends through the cleanup: stage dropped, ledger FAILED.
    let mut shutdown = Shutdown::install()?;
    ddl::ledger::start(
        &control,
        &run_id,
        opts.command,
        ds.band.name(),
        ds.seed,
        &config_digest(ds),
    )
    .await?;
    report.choices.push(format!(
        "loaded into bare staging tables, then built {} indexes and {} foreign keys read from the target's catalog, then swapped them in",
        deferred.indexes.len(),
        deferred.foreign_keys.len()
    ));
    report
        .choices
        .push("COPY sessions use synchronous_commit = off".into());
    let stage = ddl::create_stage(&control, target).await?;

    let cancel = Arc::new(AtomicBool::new(false));
    // Everything before the swap can be interrupted, the refresh's validation
    // included (a signal that went unnoticed there let the swap go ahead).
    let work = async {
        load_and_build(opts, plan, pools, &stage, &deferred, report, cancel.clone()).await?;
        if opts.command == "refresh" {
            pre_swap_validation(target, &stage, ds, report).await?;
        }
        let t = Instant::now();
        let keys =
            external::check_against_stage(&control, &schema, &stage, &ddl::table_names()).await?;
        if keys > 0 {
            report.post_load.push(StepReport {
                step: "rows of other tables checked against the new data".into(),
                elapsed_ms: t.elapsed().as_secs_f64() * 1000.0,
                detail: Some(format!("{keys} foreign keys into the chat tables")),
            });
        }
        Ok(())
    };
    let outcome = tokio::select! {
        r = work => r,
        (name, code) = shutdown.recv() => Err(Error::Interrupted { name, exit_code: code }),
    };
    if let Err(e) = outcome {
        cancel.store(true, Ordering::Relaxed);
        cleanup(target, &control, &run_id, &e).await;
        return Err(e);
    }
    let t = Instant::now();
    let rows = rows_per_table(report);
    // Not interruptible: one transaction, bounded by SWAP_LOCK_PATIENCE; a
    // signal arriving now is ignored and the run completes.
    let attempts = match ddl::swap(&mut control, &schema, &run_id, &rows).await {
        Ok(n) => n,
        Err(e) => {
            cleanup(target, &control, &run_id, &e).await;
            return Err(e);
        }
    };
    report.post_load.push(StepReport {
        step: "swap into the target schema".into(),
        elapsed_ms: t.elapsed().as_secs_f64() * 1000.0,
        detail: (attempts > 1).then(|| format!("locked the live tables at attempt {attempts}")),
    });
    Ok(())
}

/// After a failure: drops the staging schema and marks the run FAILED in the
/// ledger; tries a fresh connection when the control connection is gone.
async fn cleanup(target: &Target, control: &tokio_postgres::Client, run_id: &str, error: &Error) {
    async fn tidy(
        c: &tokio_postgres::Client,
        schema: &str,
        run_id: &str,
        message: &str,
    ) -> Result<()> {
        ddl::drop_stage(c, schema).await?;
        ddl::ledger::finish(c, run_id, "FAILED", &serde_json::Value::Null, Some(message)).await
    }
    let message = error.to_string();
    if tidy(control, &target.schema, run_id, &message)
        .await
        .is_ok()
    {
        return;
    }
    match target.connect().await {
        Ok(c) => {
            if let Err(e) = tidy(&c, &target.schema, run_id, &message).await {
                crate::progress::warn(&format!(
                    "could not clean up after the failure ({e}); the next run will"
                ));
            }
        }
        Err(e) => crate::progress::warn(&format!(
            "could not reconnect to clean up ({e}); the next run will"
        )),
    }
}

/// sha256 of the dataset configuration: equal digests, equal data.
pub fn config_digest(cfg: &DatasetConfig) -> String {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(cfg).expect("config serializes");
    Sha256::digest(json)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn rows_per_table(report: &RunReport) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for t in report.phases.iter().flat_map(|p| &p.tables) {
        m.insert(t.table.clone(), t.rows.into());
    }
    serde_json::Value::Object(m)
}

/// Refresh only: the staged dataset must pass validate's integrity checks
/// before it may replace the live one.
async fn pre_swap_validation(
    target: &Target,
    stage: &str,
    ds: &DatasetConfig,
    report: &mut RunReport,
) -> Result<()> {
    let t = Instant::now();
    let failures = crate::validate::integrity_failures(&target.with_schema(stage), ds).await?;
    report.post_load.push(StepReport {
        step: "integrity validation of the staged data".into(),
        elapsed_ms: t.elapsed().as_secs_f64() * 1000.0,
        detail: Some(format!("{} failures", failures.len())),
    });
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
pub struct Shutdown {
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
    pub async fn recv(&mut self) -> (&'static str, u8) {
        tokio::select! {
            _ = self.int.recv() => ("SIGINT", 130),
            _ = self.term.recv() => ("SIGTERM", 143),
        }
    }
}

fn expected_rows(plan: &Plan) -> [Option<u64>; 7] {
    let c = &plan.cfg.counts;
    let mut e = [None; 7];
    e[Table::Users.index()] = Some(c.users);
    e[Table::Conversations.index()] = Some(c.conversations);
    e[Table::ConversationUsers.index()] = Some(plan.members.len() as u64);
    e[Table::Messages.index()] = Some(c.messages);
    e
}

async fn load_and_build(
    opts: &LoadOptions,
    plan: Arc<Plan>,
    pools: Arc<Pools>,
    stage: &str,
    deferred: &ddl::Deferred,
    report: &mut RunReport,
    cancel: Arc<AtomicBool>,
) -> Result<()> {
    let p = &opts.pipeline;
    let stage_target = opts.target.with_schema(stage);
    let max_streams: usize = Pass::ALL
        .iter()
        .map(|pass| {
            pass.tables()
                .iter()
                .map(|t| pipeline::streams_for(*t, p.streams_per_large_table))
                .sum::<usize>()
        })
        .max()
        .unwrap_or(1);
    let pool = stage_target.pool(max_streams.max(opts.index_workers))?;
    let mut rows_by_table = [0u64; 7];
    for pass in Pass::ALL {
        let phase = run_phase(
            pass,
            opts,
            &plan,
            &pools,
            &stage_target,
            &pool,
            cancel.clone(),
        )
        .await?;
        for t in &phase.tables {
            if let Some(x) = Table::ALL.iter().find(|x| x.name() == t.table) {
                rows_by_table[x.index()] = t.rows;
            }
        }
        report.phases.push(phase);
    }
    build_deferred(opts, &stage_target, &pool, deferred, &rows_by_table, report).await
}

async fn run_phase(
    pass: Pass,
    opts: &LoadOptions,
    plan: &Arc<Plan>,
    pools: &Arc<Pools>,
    stage_target: &Target,
    pool: &deadpool_postgres::Pool,
    cancel: Arc<AtomicBool>,
) -> Result<PhaseReport> {
    let p = &opts.pipeline;
    let started = Instant::now();
    let counters = Arc::new(Counters::default());
    let mut senders: [Option<flume::Sender<pipeline::Chunk>>; 7] = Default::default();
    let mut streams: JoinSet<(Table, Result<StreamStats>)> = JoinSet::new();
    let ctx = pipeline::StreamCtx {
        target: stage_target.clone(),
        pool: pool.clone(),
        phase: pass.name(),
        counters: counters.clone(),
        cancel: cancel.clone(),
    };
    for &t in pass.tables() {
        let (tx, rx) = flume::bounded(p.channel_chunks);
        senders[t.index()] = Some(tx);
        for _ in 0..pipeline::streams_for(t, p.streams_per_large_table) {
            let (ctx, rx) = (ctx.clone(), rx.clone());
            streams.spawn(async move { (t, pipeline::copy_stream(ctx, t, rx).await) });
        }
    }
    let progress = Progress::start(
        pass.name(),
        pass.tables(),
        expected_rows(plan),
        counters,
        opts.fancy_progress,
    );
    let gens = pipeline::spawn_generators(
        pass,
        plan.clone(),
        pools.clone(),
        p.workers,
        p.chunk_bytes,
        senders,
        cancel.clone(),
    );
    let mut per_table: Vec<(Table, StreamStats, usize)> = Vec::new();
    let mut first_error = None;
    while let Some(joined) = streams.join_next().await {
        let failed = match joined {
            Ok((t, Ok(s))) => {
                match per_table.iter_mut().find(|x| x.0 == t) {
                    Some(x) => {
                        x.1.merge(&s);
                        x.2 += 1;
                    }
                    None => per_table.push((t, s, 1)),
                }
                continue;
            }
            Ok((_, Err(e))) => e,
            // The streams aborted after the first error end as cancelled:
            // the first error is the one that names the table and phase.
            Err(e) if e.is_cancelled() && first_error.is_some() => continue,
            Err(e) => Error::Other(format!(
                "a COPY task of phase '{}' failed: {e}",
                pass.name()
            )),
        };
        // Stop the generators and the other streams; keep the first error.
        cancel.store(true, Ordering::Relaxed);
        streams.abort_all();
        first_error.get_or_insert(failed);
    }
    let gen = tokio::task::spawn_blocking(move || pipeline::join_generators(gens))
        .await
        .map_err(|e| Error::Other(format!("generator threads: {e}")))??;
    progress.finish().await;
    if let Some(e) = first_error {
        return Err(e);
    }
    let mut tables = Vec::new();
    for &t in pass.tables() {
        let Some((_, s, n)) = per_table.iter().find(|x| x.0 == t) else {
            continue;
        };
        let ms = s.elapsed_ns as f64 / 1e6;
        tables.push(TableReport {
            table: t.name().into(),
            rows: s.rows,
            bytes: s.bytes,
            elapsed_ms: ms,
            rows_per_sec: per_sec(s.rows as f64, ms),
            mb_per_sec: per_sec(s.bytes as f64 / 1e6, ms),
            streams: *n,
            chunks: s.chunks,
            chunk_send_latency_us: Percentiles::of(&s.send_us),
            streams_waiting_for_generators_ms: s.starved_ns as f64 / 1e6,
            server_ack_ms: s.finish_ns as f64 / 1e6,
        });
    }
    Ok(PhaseReport {
        phase: pass.name().into(),
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        generator: GeneratorReport {
            workers: p.workers,
            generating_ms: gen.busy_ns as f64 / 1e6,
            blocked_on_channel_ms: gen.blocked_ns as f64 / 1e6,
            units: gen.units,
        },
        tables,
    })
}

/// Builds the indexes (`index_workers` at once, biggest tables first), then
/// attaches primary/unique constraints, adds foreign keys, and analyses.
async fn build_deferred(
    opts: &LoadOptions,
    stage_target: &Target,
    pool: &deadpool_postgres::Pool,
    deferred: &ddl::Deferred,
    rows_by_table: &[u64; 7],
    report: &mut RunReport,
) -> Result<()> {
    let stage = stage_target.schema.clone();
    let rows_of = |name: &str| {
        Table::ALL
            .iter()
            .find(|t| t.name() == name)
            .map_or(0, |t| rows_by_table[t.index()])
    };
    let mut jobs = deferred.indexes.clone();
    jobs.sort_by_key(|j| std::cmp::Reverse(rows_of(&j.table)));
    let started = Instant::now();
    crate::progress::note(&format!(
        "building {} indexes on {} connections, then {} foreign keys, then ANALYZE",
        jobs.len(),
        opts.index_workers,
        deferred.foreign_keys.len()
    ));
    let steps = Arc::new(crate::progress::Steps::new(
        "indexes",
        jobs.len(),
        opts.fancy_progress,
    ));
    let queue = Arc::new(std::sync::Mutex::new(jobs.into_iter()));
    let mut workers = JoinSet::new();
    for _ in 0..opts.index_workers.max(1) {
        let (queue, pool, target, mwm, steps) = (
            queue.clone(),
            pool.clone(),
            stage_target.clone(),
            opts.maintenance_work_mem.clone(),
            steps.clone(),
        );
        workers.spawn(async move {
            let client = target.pooled(&pool).await?;
            client
                .batch_execute(&format!(
                    "SET maintenance_work_mem = {}",
                    crate::db::quote_literal(&mwm)
                ))
                .await
                .step("setting maintenance_work_mem")?;
            let mut done = Vec::new();
            loop {
                let job = queue.lock().expect("index queue").next();
                let Some(job) = job else { break };
                let t = Instant::now();
                client
                    .batch_execute(&job.create)
                    .await
                    .step(format!("building index {} on {}", job.name, job.table))?;
                steps.finished(
                    &format!("index {} on {}", job.name, job.table),
                    t.elapsed().as_secs_f64(),
                );
                done.push(StepReport {
                    step: format!("index {}", job.name),
                    elapsed_ms: t.elapsed().as_secs_f64() * 1000.0,
                    detail: Some(job.table.clone()),
                });
            }
            Ok::<_, Error>(done)
        });
    }
    let mut steps = Vec::new();
    while let Some(r) = workers.join_next().await {
        let r = r.map_err(|e| Error::Other(format!("index build task: {e}")))?;
        match r {
            Ok(done) => steps.extend(done),
            Err(e) => {
                workers.abort_all();
                return Err(e);
            }
        }
    }
    steps.sort_by(|a, b| b.elapsed_ms.total_cmp(&a.elapsed_ms));
    report.post_load.push(StepReport {
        step: "indexes (all)".into(),
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        detail: Some(format!(
            "{} indexes, {} at once",
            steps.len(),
            opts.index_workers
        )),
    });
    report.builds.extend(steps);

    let client = stage_target.pooled(pool).await?;
    client
        .batch_execute(&format!(
            "SET search_path TO {}, {}; SET maintenance_work_mem = {}",
            quote_ident(&stage),
            quote_ident(&opts.target.schema),
            crate::db::quote_literal(&opts.maintenance_work_mem)
        ))
        .await
        .step("setting up the constraint session")?;
    let t = Instant::now();
    for ix in &deferred.indexes {
        if let Some(sql) = ddl::attach_constraint_sql(&stage, ix) {
            client
                .batch_execute(&sql)
                .await
                .step(format!("adding constraint {} on {}", ix.name, ix.table))?;
        }
    }
    report.post_load.push(StepReport {
        step: "primary and unique constraints".into(),
        elapsed_ms: t.elapsed().as_secs_f64() * 1000.0,
        detail: None,
    });
    let t = Instant::now();
    for fk in &deferred.foreign_keys {
        let t1 = Instant::now();
        client
            .batch_execute(&ddl::foreign_key_sql(&stage, fk))
            .await
            .step(format!("adding foreign key {} on {}", fk.name, fk.table))?;
        report.builds.push(StepReport {
            step: format!("foreign key {}", fk.name),
            elapsed_ms: t1.elapsed().as_secs_f64() * 1000.0,
            detail: Some(fk.table.clone()),
        });
    }
    report.post_load.push(StepReport {
        step: "foreign keys (all)".into(),
        elapsed_ms: t.elapsed().as_secs_f64() * 1000.0,
        detail: None,
    });
    let t = Instant::now();
    let names: Vec<String> = Table::ALL
        .iter()
        .map(|x| format!("{}.{}", quote_ident(&stage), quote_ident(x.name())))
        .collect();
    client
        .batch_execute(&format!("ANALYZE {}", names.join(", ")))
        .await
        .step("analysing the new tables")?;
    report.post_load.push(StepReport {
        step: "ANALYZE".into(),
        elapsed_ms: t.elapsed().as_secs_f64() * 1000.0,
        detail: None,
    });
    Ok(())
}
