//! `chatsynth generate`: the same rows `load` sends, written as one PGCOPY
//! binary file per table (loadable with `COPY t FROM 'file' (FORMAT binary)`),
//! or discarded to measure generation and encoding alone.
//!
//! Files hold the chunks in canonical unit order, so their bytes are the same
//! for any number of workers. Each file is written under a temporary name and
//! renamed when complete: an interrupted run leaves no half-written file.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use crate::config::{DatasetConfig, PipelineConfig};
use crate::copy::{HEADER, TRAILER};
use crate::error::{Error, Result};
use crate::gen::{pools::Pools, Plan};
use crate::load::pipeline::{self, Chunk, Pass, END_OF_UNIT};
use crate::model::{Command, Table};
use crate::report::{GeneratorReport, PhaseReport, RunReport, TableReport};
use crate::util::num::per_sec;

pub struct GenerateOptions {
    pub dataset: DatasetConfig,
    pub pipeline: PipelineConfig,
    /// `None` = discard.
    pub out_dir: Option<PathBuf>,
    pub report_path: Option<PathBuf>,
}

/// Where a table's file goes.
pub fn file_for(dir: &Path, t: Table) -> PathBuf {
    dir.join(format!("{}.pgcopy", t.name()))
}

struct Written {
    rows: u64,
    bytes: u64,
    chunks: u64,
}

/// Drains one table's channel: in unit order into a file, or counted and dropped.
fn consume(rx: flume::Receiver<Chunk>, path: Option<PathBuf>) -> Result<Written> {
    let mut w = Written {
        rows: 0,
        bytes: 0,
        chunks: 0,
    };
    let Some(path) = path else {
        for c in rx.iter() {
            w.rows += c.rows;
            w.bytes += c.data.len() as u64;
            w.chunks += (c.seq != END_OF_UNIT) as u64;
        }
        return Ok(w);
    };
    let tmp = path.with_extension("pgcopy.partial");
    let io = |e| Error::io(format!("cannot write {}", tmp.display()), e);
    let mut f =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).map_err(io)?);
    f.write_all(HEADER).map_err(io)?;
    let (mut next, mut pending, mut done): (u32, HashMap<u32, Vec<Chunk>>, HashSet<u32>) =
        (0, HashMap::new(), HashSet::new());
    let write = |f: &mut std::io::BufWriter<std::fs::File>, c: Chunk, w: &mut Written| {
        w.rows += c.rows;
        w.bytes += c.data.len() as u64;
        w.chunks += 1;
        f.write_all(&c.data)
    };
    for c in rx.iter() {
        if c.seq == END_OF_UNIT {
            done.insert(c.unit);
        } else if c.unit == next {
            write(&mut f, c, &mut w).map_err(io)?;
        } else {
            pending.entry(c.unit).or_default().push(c);
        }
        while done.remove(&next) {
            next += 1;
            for c in pending.remove(&next).unwrap_or_default() {
                write(&mut f, c, &mut w).map_err(io)?;
            }
        }
    }
    if !pending.is_empty() {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::Other(format!(
            "generation of {} stopped before every unit was complete",
            path.display()
        )));
    }
    f.write_all(TRAILER).map_err(io)?;
    f.into_inner()
        .map_err(|e| io(e.into_error()))?
        .sync_all()
        .map_err(io)?;
    std::fs::rename(&tmp, &path)
        .map_err(|e| Error::io(format!("cannot rename to {}", path.display()), e))?;
    w.bytes += (HEADER.len() + TRAILER.len()) as u64;
    Ok(w)
}

pub async fn run(opts: &GenerateOptions) -> Result<(RunReport, PathBuf)> {
    let started = Instant::now();
    if let Some(dir) = &opts.out_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    }
    let (plan, pools, plan_ms) = crate::gen::prepare(&opts.dataset).await?;
    let mut report = RunReport::new(
        Command::Generate,
        &opts.dataset,
        plan.realised.clone(),
        opts.pipeline.clone(),
    );
    report.plan_ms = plan_ms;
    report.choices.push(match &opts.out_dir {
        Some(d) => format!(
            "wrote one PGCOPY binary file per table into {}",
            d.display()
        ),
        None => "discarded the encoded chunks (generation and encoding alone)".into(),
    });
    let path = opts
        .report_path
        .clone()
        .unwrap_or_else(|| report.default_path());
    let result = generate_all(opts, plan, pools, &mut report).await;
    report.conclude(started, result, path)
}

async fn generate_all(
    opts: &GenerateOptions,
    plan: Arc<Plan>,
    pools: Arc<Pools>,
    report: &mut RunReport,
) -> Result<()> {
    let p = &opts.pipeline;
    for pass in Pass::ALL {
        let started = Instant::now();
        let cancel = Arc::new(AtomicBool::new(false));
        let mut senders: [Option<flume::Sender<Chunk>>; 7] = Default::default();
        let mut consumers = Vec::new();
        for &t in pass.tables() {
            let (tx, rx) = flume::bounded(p.channel_chunks);
            senders[t.index()] = Some(tx);
            let path = opts.out_dir.as_ref().map(|d| file_for(d, t));
            consumers.push((t, std::thread::spawn(move || consume(rx, path))));
        }
        let gens = pipeline::spawn_generators(
            pass,
            plan.clone(),
            pools.clone(),
            p.workers,
            p.chunk_bytes,
            senders,
            cancel.clone(),
        );
        let (gen, written) = tokio::task::spawn_blocking(move || {
            let gen = pipeline::join_generators(gens);
            let written: Vec<(Table, Result<Written>)> = consumers
                .into_iter()
                .map(|(t, h)| {
                    (
                        t,
                        h.join()
                            .unwrap_or_else(|_| Err(Error::Other("writer thread panicked".into()))),
                    )
                })
                .collect();
            (gen, written)
        })
        .await
        .map_err(|e| Error::Other(format!("generator threads: {e}")))?;
        let gen = gen?;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut tables = Vec::new();
        for (t, w) in written {
            let w = w?;
            tables.push(TableReport {
                table: t.name().into(),
                rows: w.rows,
                bytes: w.bytes,
                elapsed_ms,
                rows_per_sec: per_sec(w.rows as f64, elapsed_ms),
                mb_per_sec: per_sec(w.bytes as f64 / 1e6, elapsed_ms),
                streams: 1,
                chunks: w.chunks,
                chunk_send_latency_us: Default::default(),
                streams_waiting_for_generators_ms: 0.0,
                server_ack_ms: 0.0,
            });
        }
        report.phases.push(PhaseReport {
            phase: pass.name().into(),
            elapsed_ms,
            generator: GeneratorReport {
                workers: p.workers,
                generating_ms: gen.busy_ns as f64 / 1e6,
                blocked_on_channel_ms: gen.blocked_ns as f64 / 1e6,
                units: gen.units,
            },
            tables,
        });
    }
    Ok(())
}
