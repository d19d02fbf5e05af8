//! The COPY side of a load's phases: per table, M tasks each hold a pooled
//! connection and stream the generators' chunks into `COPY ... FROM STDIN
//! (FORMAT binary)` (the [`Consumer`] that `gen`'s phase runner feeds). A
//! stream ends when its channel is drained, then checks the server's count.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use hdrhistogram::Histogram;
use tokio::task::JoinSet;

use crate::copy::SinkWriter;
use crate::db::quote_ident;
use crate::db::Target;
use crate::error::{pg_message, Error, Result};
use crate::gen::children::Child;
use crate::gen::pipeline::{Consumer, Message};
use crate::model::Table;
use crate::progress::Counters;
use crate::report::{Percentiles, TableReport};
use crate::util::fingerprint::Fingerprint;
use crate::util::num::per_sec;

/// What one COPY stream measured.
struct StreamStats {
    rows: u64,
    bytes: u64,
    chunks: u64,
    /// Time to hand each chunk to the connection (includes socket backpressure), µs.
    send_us: Histogram<u64>,
    /// Time spent waiting for the generators (channel empty).
    starved_ns: u64,
    /// Time from the last chunk of each batch to its commit.
    finish_ns: u64,
    /// Transactions committed (batches of whole units).
    commits: u64,
    elapsed_ns: u64,
}

impl StreamStats {
    fn new() -> Self {
        StreamStats {
            rows: 0,
            bytes: 0,
            chunks: 0,
            send_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
            starved_ns: 0,
            finish_ns: 0,
            commits: 0,
            elapsed_ns: 0,
        }
    }

    fn merge(&mut self, o: &StreamStats) {
        self.rows += o.rows;
        self.bytes += o.bytes;
        self.chunks += o.chunks;
        let _ = self.send_us.add(&o.send_us);
        self.starved_ns += o.starved_ns;
        self.finish_ns = self.finish_ns.max(o.finish_ns);
        self.commits += o.commits;
        self.elapsed_ns = self.elapsed_ns.max(o.elapsed_ns);
    }
}

impl Default for StreamStats {
    fn default() -> Self {
        Self::new()
    }
}

/// What a COPY stream works with.
#[derive(Clone)]
pub(crate) struct StreamCtx {
    pub(crate) target: Target,
    pub(crate) pool: deadpool_postgres::Pool,
    pub(crate) phase: &'static str,
    pub(crate) counters: Arc<Counters>,
    pub(crate) cancel: Arc<AtomicBool>,
    /// The plan, for the columns its rules add to each table's COPY.
    pub(crate) plan: Arc<crate::gen::Plan>,
}

/// What a COPY stream fills: a built-in table, or a declared child table
/// (its name and the columns chatsynth writes).
#[derive(Clone)]
pub(crate) enum Dest {
    Table(Table),
    Child { name: String, columns: Vec<String> },
}

impl Dest {
    fn name(&self) -> &str {
        match self {
            Dest::Table(t) => t.name(),
            Dest::Child { name, .. } => name,
        }
    }

    /// The COPY statement; a built-in table's columns are widened by its
    /// column rules.
    fn copy_sql(&self, schema: &str, plan: &crate::gen::Plan) -> String {
        match self {
            Dest::Table(t) => {
                t.copy_sql_with(schema, plan.rules.for_table(t.name()).extra_columns())
            }
            Dest::Child { name, columns } => {
                let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
                format!(
                    "COPY {}.{} ({}) FROM STDIN (FORMAT binary)",
                    quote_ident(schema),
                    quote_ident(name),
                    cols.join(", ")
                )
            }
        }
    }
}

/// A COPY stream commits once the units completed in its open transaction
/// hold at least this many bytes (and no unit is half sent).
const BATCH_BYTES: u64 = 64 << 20;

/// The batch size: `BATCH_BYTES`, or `CHATSYNTH_TEST_COMMIT_BYTES` (a test
/// hook: 1 commits after every unit).
fn batch_bytes() -> u64 {
    std::env::var("CHATSYNTH_TEST_COMMIT_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(BATCH_BYTES)
}

/// Test hook `CHATSYNTH_TEST_HOLD=children`: the message_receipts stream
/// stops (holds forever) after its first commit, so a test can kill -9 the
/// process in the children phase with some units durable.
fn hold_after_commit(dest: &Dest) -> bool {
    matches!(dest, Dest::Table(Table::MessageReceipts))
        && std::env::var("CHATSYNTH_TEST_HOLD").is_ok_and(|v| v == "children")
}

/// The units of one open transaction: rows per unit still being sent, and
/// the units complete in it.
#[derive(Default)]
struct Batch {
    open: std::collections::HashMap<u32, u64>,
    done: Vec<(u32, u64, String)>,
    done_bytes: u64,
    bytes: u64,
    rows: u64,
}

/// One COPY stream: takes its lane's chunks from `rx` until every generator
/// is done. Rows go in transactions of whole units: when the completed units
/// reach the batch size, chunks of units not yet begun are held back, the
/// units in flight are finished, and the COPY ends and commits together with
/// the ids of its units in the stage's progress table. A killed run thus
/// leaves exactly the committed units.
async fn copy_stream(
    ctx: StreamCtx,
    dest: Dest,
    rx: flume::Receiver<Message>,
) -> Result<StreamStats> {
    let StreamCtx {
        target,
        pool,
        phase,
        counters,
        cancel,
        plan,
    } = ctx;
    let fail = |message: String| Error::Copy {
        table: dest.name().to_string(),
        phase: phase.to_string(),
        message,
    };
    let started = Instant::now();
    let client = target.pooled(&pool).await?;
    client
        .batch_execute("SET synchronous_commit = off")
        .await
        .map_err(|e| fail(pg_message(&e)))?;
    let progress_sql = crate::catalog::stage::progress_insert_sql(&target.schema);
    let limit = batch_bytes();
    let mut stats = StreamStats::new();
    let mut held: std::collections::VecDeque<Message> = std::collections::VecDeque::new();
    let mut ended = false;
    let mut commits = 0u64;
    while !(ended && held.is_empty()) {
        client
            .batch_execute("BEGIN")
            .await
            .map_err(|e| fail(pg_message(&e)))?;
        let sink = client
            .copy_in::<_, Bytes>(&dest.copy_sql(&target.schema, &plan))
            .await
            .map_err(|e| fail(pg_message(&e)))?;
        futures::pin_mut!(sink);
        let mut writer = SinkWriter::start(sink.as_mut())
            .await
            .map_err(|e| fail(pg_message(&e)))?;
        let mut batch = Batch::default();
        let mut again = std::mem::take(&mut held);
        loop {
            let draining = batch.done_bytes >= limit;
            if draining && batch.open.is_empty() {
                break;
            }
            let msg = match again.pop_front() {
                Some(m) => m,
                None if ended => break,
                None => {
                    let t0 = Instant::now();
                    match rx.recv_async().await {
                        Ok(m) => {
                            stats.starved_ns += t0.elapsed().as_nanos() as u64;
                            m
                        }
                        Err(_) => {
                            ended = true;
                            break;
                        }
                    }
                }
            };
            if cancel.load(Ordering::Relaxed) {
                return Err(fail("cancelled".into()));
            }
            let unit = match &msg {
                Message::Rows(c) => c.unit,
                Message::EndOfUnit { unit, .. } => *unit,
            };
            // A unit not begun in this transaction waits for the next one
            // once this one is closing.
            if draining && !batch.open.contains_key(&unit) {
                held.push_back(msg);
                continue;
            }
            match msg {
                Message::Rows(chunk) => {
                    let (rows, len) = (chunk.rows, chunk.data.len() as u64);
                    let t1 = Instant::now();
                    writer
                        .send(chunk.data)
                        .await
                        .map_err(|e| fail(pg_message(&e)))?;
                    let _ = stats
                        .send_us
                        .record((t1.elapsed().as_micros() as u64).max(1));
                    *batch.open.entry(unit).or_default() += rows;
                    batch.rows += rows;
                    batch.bytes += len;
                    stats.chunks += 1;
                    if let Dest::Table(t) = dest {
                        counters.rows[t].fetch_add(rows, Ordering::Relaxed);
                    }
                }
                Message::EndOfUnit { unit, fingerprint } => {
                    let rows = batch.open.remove(&unit).unwrap_or(0);
                    batch.done.push((unit, rows, fingerprint.to_string()));
                    batch.done_bytes = batch.bytes;
                }
            }
        }
        held.extend(again);
        // Units still open here were cut off by the end of the channel (a
        // generator stopped): they are not recorded, so a resume redoes them.
        let (_, framed) = writer.finish().await.map_err(|e| fail(pg_message(&e)))?;
        let t2 = Instant::now();
        let copied = sink
            .as_mut()
            .finish()
            .await
            .map_err(|e| fail(pg_message(&e)))?;
        if copied != batch.rows {
            return Err(fail(format!(
                "the server copied {copied} rows but {} were sent",
                batch.rows
            )));
        }
        if !batch.done.is_empty() {
            let units: Vec<i32> = batch.done.iter().map(|u| u.0 as i32).collect();
            let rows: Vec<i64> = batch.done.iter().map(|u| u.1 as i64).collect();
            let fps: Vec<&str> = batch.done.iter().map(|u| u.2.as_str()).collect();
            client
                .execute(&progress_sql, &[&dest.name(), &units, &rows, &fps])
                .await
                .map_err(|e| fail(pg_message(&e)))?;
        }
        client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| fail(pg_message(&e)))?;
        stats.finish_ns += t2.elapsed().as_nanos() as u64;
        stats.rows += batch.rows;
        stats.bytes += framed;
        commits += 1;
        if hold_after_commit(&dest) && !batch.done.is_empty() {
            crate::progress::note("test hook: holding the message_receipts stream");
            std::future::pending::<()>().await;
        }
    }
    stats.commits = commits;
    stats.elapsed_ns = started.elapsed().as_nanos() as u64;
    Ok(stats)
}

/// Streams per table: the big tables of the messages pass get `streams`.
pub(crate) fn streams_for(table: Table, streams: usize) -> usize {
    match table {
        Table::Messages | Table::MessageReceipts => streams,
        _ => 1,
    }
}

/// The load's [`Consumer`]: per table, `streams_for` COPY streams into the
/// staging schema, sharing the table's channel.
pub(crate) struct CopyStreams {
    ctx: StreamCtx,
    streams_per_large_table: usize,
    tables: Vec<String>,
    tasks: JoinSet<(String, Result<StreamStats>)>,
}

impl CopyStreams {
    pub(crate) fn new(ctx: StreamCtx, streams_per_large_table: usize) -> CopyStreams {
        CopyStreams {
            ctx,
            streams_per_large_table,
            tables: Vec::new(),
            tasks: JoinSet::new(),
        }
    }
}

impl CopyStreams {
    fn spawn(&mut self, dest: Dest, streams: usize, rx: flume::Receiver<Message>) {
        let name = dest.name().to_string();
        if !self.tables.contains(&name) {
            self.tables.push(name.clone());
        }
        for _ in 0..streams {
            let (ctx, rx, dest, name) = (self.ctx.clone(), rx.clone(), dest.clone(), name.clone());
            self.tasks
                .spawn(async move { (name, copy_stream(ctx, dest, rx).await) });
        }
    }
}

impl Consumer for CopyStreams {
    fn lanes(&self, table: Table) -> usize {
        streams_for(table, self.streams_per_large_table)
    }

    /// One stream per lane.
    fn start(&mut self, table: Table, rx: flume::Receiver<Message>) {
        self.spawn(Dest::Table(table), 1, rx);
    }

    fn start_child(&mut self, _i: usize, child: &Child, rx: flume::Receiver<Message>) {
        let dest = Dest::Child {
            name: child.name.clone(),
            columns: child.columns.clone(),
        };
        self.spawn(dest, 1, rx);
    }

    async fn finish(&mut self, cancel: &AtomicBool) -> Result<Vec<TableReport>> {
        let mut per_table: Vec<(String, StreamStats, usize)> = Vec::new();
        let mut first_error = None;
        while let Some(joined) = self.tasks.join_next().await {
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
                    self.ctx.phase
                )),
            };
            // Stop the generators and the other streams; keep the first error.
            cancel.store(true, Ordering::Relaxed);
            self.tasks.abort_all();
            first_error.get_or_insert(failed);
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        Ok(std::mem::take(&mut self.tables)
            .into_iter()
            .filter_map(|t| {
                let (_, s, n) = per_table.iter().find(|x| x.0 == t)?;
                Some(table_report(&t, s, *n))
            })
            .collect())
    }
}

fn table_report(t: &str, s: &StreamStats, streams: usize) -> TableReport {
    let ms = s.elapsed_ns as f64 / 1e6;
    TableReport {
        table: t.into(),
        rows: s.rows,
        bytes: s.bytes,
        elapsed_ms: ms,
        rows_per_sec: per_sec(s.rows as f64, ms),
        mb_per_sec: per_sec(s.bytes as f64 / 1e6, ms),
        streams,
        chunks: s.chunks,
        chunk_send_latency_us: Percentiles::of(&s.send_us),
        streams_waiting_for_generators_ms: s.starved_ns as f64 / 1e6,
        server_ack_ms: s.finish_ns as f64 / 1e6,
        // Filled by the phase runner from the generators' unit hashes.
        fingerprint: Fingerprint::EMPTY,
    }
}
