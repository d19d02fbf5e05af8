//! `chatsynth generate`: the same rows `load` sends, written as one PGCOPY
//! binary file per table (loadable with `COPY t FROM 'file' (FORMAT binary)`),
//! or discarded to measure generation and encoding alone.
//!
//! Files hold the chunks in canonical unit order, so their bytes are the same
//! for any number of workers. Each file is written under a temporary name and
//! renamed when complete: an interrupted run leaves no half-written file.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::config::{DatasetConfig, PipelineConfig};
use crate::copy::FileWriter;
use crate::error::{Error, Result};
use crate::gen::children::Child;
use crate::gen::pipeline::{run_phase, Chunk, Consumer, Message, Pass};
use crate::gen::{pools::Pools, Plan};
use crate::model::{Command, Table};
use crate::report::{RunReport, TableReport};
use crate::util::fingerprint::Fingerprint;
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
    file_named(dir, t.name())
}

/// Where the file of the table named `name` goes (declared child tables too).
pub fn file_named(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.pgcopy"))
}

#[derive(Default)]
struct Written {
    rows: u64,
    bytes: u64,
    chunks: u64,
}

/// Drains one table's channel, counting and dropping the chunks.
fn discard(rx: flume::Receiver<Message>) -> Written {
    let mut w = Written::default();
    for m in rx.iter() {
        if let Message::Rows(c) = m {
            w.rows += c.rows;
            w.bytes += c.data.len() as u64;
            w.chunks += 1;
        }
    }
    w
}

/// Drains one table's channel into `path`, in unit order, under a temporary
/// name renamed when complete.
fn write_file(rx: flume::Receiver<Message>, path: PathBuf) -> Result<Written> {
    let tmp = path.with_extension("pgcopy.partial");
    let io = |e| Error::io(format!("cannot write {}", tmp.display()), e);
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let mut f = FileWriter::new(std::io::BufWriter::with_capacity(1 << 20, file)).map_err(io)?;
    let mut w = Written::default();
    let (mut next, mut pending, mut done): (u32, HashMap<u32, Vec<Chunk>>, HashSet<u32>) =
        (0, HashMap::new(), HashSet::new());
    let mut write = |f: &mut FileWriter<_>, c: Chunk| {
        w.rows += c.rows;
        w.chunks += 1;
        f.write(&c.data)
    };
    for m in rx.iter() {
        match m {
            Message::EndOfUnit { unit, .. } => {
                done.insert(unit);
            }
            Message::Rows(c) if c.unit == next => write(&mut f, c).map_err(io)?,
            Message::Rows(c) => pending.entry(c.unit).or_default().push(c),
        }
        while done.remove(&next) {
            next += 1;
            for c in pending.remove(&next).unwrap_or_default() {
                write(&mut f, c).map_err(io)?;
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
    let (buffered, bytes) = f.finish().map_err(io)?;
    buffered
        .into_inner()
        .map_err(|e| io(e.into_error()))?
        .sync_all()
        .map_err(io)?;
    std::fs::rename(&tmp, &path)
        .map_err(|e| Error::io(format!("cannot rename to {}", path.display()), e))?;
    w.bytes = bytes;
    Ok(w)
}

/// `generate`'s [`Consumer`]: a thread per table writing its file, or
/// discarding its chunks.
struct Files {
    out_dir: Option<PathBuf>,
    started: Instant,
    writers: Vec<(String, std::thread::JoinHandle<Result<Written>>)>,
}

impl Files {
    fn spawn(&mut self, name: &str, rx: flume::Receiver<Message>) {
        let path = self.out_dir.as_ref().map(|d| file_named(d, name));
        let writer = std::thread::spawn(move || match path {
            Some(path) => write_file(rx, path),
            None => Ok(discard(rx)),
        });
        self.writers.push((name.to_string(), writer));
    }
}

impl Consumer for Files {
    fn start(&mut self, table: Table, rx: flume::Receiver<Message>) {
        self.spawn(table.name(), rx);
    }

    fn start_child(&mut self, _i: usize, child: &Child, rx: flume::Receiver<Message>) {
        self.spawn(&child.name, rx);
    }

    async fn finish(&mut self, cancel: &AtomicBool) -> Result<Vec<TableReport>> {
        let writers = std::mem::take(&mut self.writers);
        let written = tokio::task::spawn_blocking(move || {
            writers
                .into_iter()
                .map(|(t, h)| {
                    let w = h
                        .join()
                        .unwrap_or_else(|_| Err(Error::Other("writer thread panicked".into())));
                    (t, w)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|e| Error::Other(format!("writer threads: {e}")))?;
        let elapsed_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let mut tables = Vec::new();
        for (t, w) in written {
            let w = w.inspect_err(|_| cancel.store(true, Ordering::Relaxed))?;
            tables.push(TableReport {
                table: t,
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
                // Filled by the phase runner from the generators' unit hashes.
                fingerprint: Fingerprint::EMPTY,
            });
        }
        Ok(tables)
    }
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
    for pass in Pass::ALL {
        let mut files = Files {
            out_dir: opts.out_dir.clone(),
            started: Instant::now(),
            writers: Vec::new(),
        };
        let cancel = Arc::new(AtomicBool::new(false));
        let phase = run_phase(
            pass,
            &plan,
            &pools,
            &opts.pipeline,
            &mut files,
            cancel,
            Default::default(),
        )
        .await?;
        report.phases.push(phase);
    }
    Ok(())
}
