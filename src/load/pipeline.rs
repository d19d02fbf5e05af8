//! The pipeline of one phase: K generator threads claim units of work from a
//! shared counter, encode rows straight into PGCOPY chunks, and push them into
//! one bounded channel per table (backpressure); per table, M tasks each hold
//! a pooled connection and stream chunks into `COPY ... FROM STDIN (FORMAT
//! binary)`. The phase ends when every stream has finished and committed.
//!
//! Chunks never span units and carry (unit, seq), so a consumer that needs
//! the canonical order (`generate` writing files) can restore it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures::SinkExt;
use hdrhistogram::Histogram;

use crate::copy::{HEADER, TRAILER};
use crate::db::Target;
use crate::error::{pg_message, Error, Result};
use crate::gen::tables::{ChunkSink, Gen, Out, Scratch};
use crate::gen::{pools::Pools, Plan};
use crate::model::Table;

/// The generation passes, in foreign-key order. Memberships come with their
/// conversations. Messages get a phase to themselves, so the largest table has
/// the server alone; the children pass re-derives each message's decisions
/// (cheap: no text, no encoding) and writes attachments, reads and receipts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Users,
    Conversations,
    Messages,
    MessageChildren,
}

impl Pass {
    pub const ALL: [Pass; 4] = [
        Pass::Users,
        Pass::Conversations,
        Pass::Messages,
        Pass::MessageChildren,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Pass::Users => "users",
            Pass::Conversations => "conversations",
            Pass::Messages => "messages",
            Pass::MessageChildren => "message children",
        }
    }

    pub fn tables(self) -> &'static [Table] {
        match self {
            Pass::Users => &[Table::Users],
            Pass::Conversations => &[Table::Conversations, Table::ConversationUsers],
            Pass::Messages => &[Table::Messages],
            Pass::MessageChildren => &[
                Table::Attachments,
                Table::MessageReads,
                Table::MessageReceipts,
            ],
        }
    }

    fn units(self, plan: &Plan) -> &[std::ops::Range<u64>] {
        match self {
            Pass::Users => &plan.user_units,
            Pass::Conversations => &plan.conversation_units,
            Pass::Messages | Pass::MessageChildren => &plan.message_units,
        }
    }
}

/// A chunk of whole rows of one table. `seq == END_OF_UNIT` marks the end of a
/// unit (no data), so ordered consumers know a unit is complete.
pub struct Chunk {
    pub unit: u32,
    pub seq: u32,
    pub rows: u64,
    pub data: Bytes,
}

pub const END_OF_UNIT: u32 = u32::MAX;

/// Live counters per table, read by the progress display.
#[derive(Default)]
pub struct Counters {
    pub rows: [AtomicU64; 7],
    pub bytes: [AtomicU64; 7],
}

/// What one generator thread spent its time on.
#[derive(Debug, Default, Clone, Copy)]
pub struct GenStats {
    pub busy_ns: u64,
    pub blocked_ns: u64,
    pub units: u64,
}

impl std::ops::AddAssign for GenStats {
    fn add_assign(&mut self, o: GenStats) {
        self.busy_ns += o.busy_ns;
        self.blocked_ns += o.blocked_ns;
        self.units += o.units;
    }
}

struct ChannelSink {
    senders: [Option<flume::Sender<Chunk>>; 7],
    unit: u32,
    seq: [u32; 7],
    cancel: Arc<AtomicBool>,
    blocked_ns: u64,
}

impl ChunkSink for ChannelSink {
    fn send(&mut self, table: Table, chunk: BytesMut, rows: u64) -> bool {
        if self.cancel.load(Ordering::Relaxed) {
            return false;
        }
        let i = table.index();
        let seq = self.seq[i];
        self.seq[i] += 1;
        let Some(tx) = &self.senders[i] else {
            return true;
        };
        let t0 = Instant::now();
        let ok = tx
            .send(Chunk {
                unit: self.unit,
                seq,
                rows,
                data: chunk.freeze(),
            })
            .is_ok();
        self.blocked_ns += t0.elapsed().as_nanos() as u64;
        ok
    }
}

/// Starts `workers` generator threads for `pass`. Each sends to the channel of
/// each table of the pass; threads end when the units run out, the cancel flag
/// is set, or a channel closes.
pub fn spawn_generators(
    pass: Pass,
    plan: Arc<Plan>,
    pools: Arc<Pools>,
    workers: usize,
    chunk_bytes: usize,
    senders: [Option<flume::Sender<Chunk>>; 7],
    cancel: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<GenStats>> {
    let next = Arc::new(AtomicUsize::new(0));
    (0..workers)
        .map(|w| {
            let (plan, pools, next, cancel) =
                (plan.clone(), pools.clone(), next.clone(), cancel.clone());
            let senders = senders.clone();
            std::thread::Builder::new()
                .name(format!("gen-{}-{w}", pass.name()))
                .spawn(move || {
                    let gen = Gen::new(&plan, &pools);
                    let mut sink = ChannelSink {
                        senders,
                        unit: 0,
                        seq: [0; 7],
                        cancel: cancel.clone(),
                        blocked_ns: 0,
                    };
                    let mut scratch = Scratch::default();
                    let mut stats = GenStats::default();
                    let units = pass.units(&plan);
                    let started = Instant::now();
                    loop {
                        let u = next.fetch_add(1, Ordering::Relaxed);
                        if u >= units.len() || cancel.load(Ordering::Relaxed) {
                            break;
                        }
                        sink.unit = u as u32;
                        sink.seq = [0; 7];
                        let mut out = Out::new(&mut sink, chunk_bytes, pass.tables());
                        match pass {
                            Pass::Users => gen.users(units[u].clone(), &mut out),
                            Pass::Conversations => {
                                gen.conversations(units[u].clone(), &mut out, &mut scratch)
                            }
                            Pass::Messages | Pass::MessageChildren => {
                                gen.messages(units[u].clone(), &mut out, &mut scratch)
                            }
                        }
                        out.flush();
                        let stopped = out.stopped;
                        drop(out);
                        if stopped {
                            break;
                        }
                        for t in pass.tables() {
                            if let Some(tx) = &sink.senders[t.index()] {
                                let _ = tx.send(Chunk {
                                    unit: u as u32,
                                    seq: END_OF_UNIT,
                                    rows: 0,
                                    data: Bytes::new(),
                                });
                            }
                        }
                        stats.units += 1;
                    }
                    stats.blocked_ns = sink.blocked_ns;
                    stats.busy_ns =
                        (started.elapsed().as_nanos() as u64).saturating_sub(sink.blocked_ns);
                    stats
                })
                .expect("spawn generator thread")
        })
        .collect()
}

/// What one COPY stream measured.
pub struct StreamStats {
    pub rows: u64,
    pub bytes: u64,
    pub chunks: u64,
    /// Time to hand each chunk to the connection (includes socket backpressure), µs.
    pub send_us: Histogram<u64>,
    /// Time spent waiting for the generators (channel empty).
    pub starved_ns: u64,
    /// Time from the last chunk to the server's acknowledgement of the COPY.
    pub finish_ns: u64,
    pub elapsed_ns: u64,
}

impl StreamStats {
    pub fn new() -> Self {
        StreamStats {
            rows: 0,
            bytes: 0,
            chunks: 0,
            send_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
            starved_ns: 0,
            finish_ns: 0,
            elapsed_ns: 0,
        }
    }

    pub fn merge(&mut self, o: &StreamStats) {
        self.rows += o.rows;
        self.bytes += o.bytes;
        self.chunks += o.chunks;
        let _ = self.send_us.add(&o.send_us);
        self.starved_ns += o.starved_ns;
        self.finish_ns = self.finish_ns.max(o.finish_ns);
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
pub struct StreamCtx {
    pub target: Target,
    pub pool: deadpool_postgres::Pool,
    pub phase: &'static str,
    pub counters: Arc<Counters>,
    pub cancel: Arc<AtomicBool>,
}

/// One COPY stream: takes chunks from `rx` until every generator is done,
/// then finishes the COPY and checks the server's row count.
pub async fn copy_stream(
    ctx: StreamCtx,
    table: Table,
    rx: flume::Receiver<Chunk>,
) -> Result<StreamStats> {
    let StreamCtx {
        target,
        pool,
        phase,
        counters,
        cancel,
    } = ctx;
    let fail = |message: String| Error::Copy {
        table: table.name().to_string(),
        phase: phase.to_string(),
        message,
    };
    let started = Instant::now();
    let client = target.pooled(&pool).await?;
    client
        .batch_execute("SET synchronous_commit = off")
        .await
        .map_err(|e| fail(pg_message(&e)))?;
    let sink = client
        .copy_in::<_, Bytes>(&table.copy_sql(&target.schema))
        .await
        .map_err(|e| fail(pg_message(&e)))?;
    futures::pin_mut!(sink);
    let mut stats = StreamStats::new();
    sink.send(Bytes::from_static(HEADER))
        .await
        .map_err(|e| fail(pg_message(&e)))?;
    loop {
        let t0 = Instant::now();
        let chunk = match rx.recv_async().await {
            Ok(c) => c,
            Err(_) => break,
        };
        stats.starved_ns += t0.elapsed().as_nanos() as u64;
        if cancel.load(Ordering::Relaxed) {
            return Err(fail("cancelled".into()));
        }
        if chunk.seq == END_OF_UNIT {
            continue;
        }
        let (rows, len) = (chunk.rows, chunk.data.len() as u64);
        let t1 = Instant::now();
        sink.send(chunk.data)
            .await
            .map_err(|e| fail(pg_message(&e)))?;
        let _ = stats
            .send_us
            .record((t1.elapsed().as_micros() as u64).max(1));
        stats.rows += rows;
        stats.bytes += len;
        stats.chunks += 1;
        counters.rows[table.index()].fetch_add(rows, Ordering::Relaxed);
        counters.bytes[table.index()].fetch_add(len, Ordering::Relaxed);
    }
    sink.send(Bytes::from_static(TRAILER))
        .await
        .map_err(|e| fail(pg_message(&e)))?;
    let t2 = Instant::now();
    let copied = sink
        .as_mut()
        .finish()
        .await
        .map_err(|e| fail(pg_message(&e)))?;
    stats.finish_ns = t2.elapsed().as_nanos() as u64;
    if copied != stats.rows {
        return Err(fail(format!(
            "the server copied {copied} rows but {} were sent",
            stats.rows
        )));
    }
    stats.bytes += (HEADER.len() + TRAILER.len()) as u64;
    stats.elapsed_ns = started.elapsed().as_nanos() as u64;
    Ok(stats)
}

/// Streams per table: the big tables of the messages pass get `streams`.
pub fn streams_for(table: Table, streams: usize) -> usize {
    match table {
        Table::Messages | Table::MessageReceipts => streams,
        _ => 1,
    }
}

pub fn join_generators(handles: Vec<std::thread::JoinHandle<GenStats>>) -> Result<GenStats> {
    let mut total = GenStats::default();
    for h in handles {
        total += h
            .join()
            .map_err(|_| Error::Other("a generator thread panicked".into()))?;
    }
    Ok(total)
}
