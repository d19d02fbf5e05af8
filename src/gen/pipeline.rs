//! The producer side of a phase, and the one phase runner: K generator
//! threads claim units of work from a shared counter, encode rows straight
//! into PGCOPY chunks, and push them into one bounded channel per table
//! (backpressure). A [`Consumer`] drains the channels: `load`'s COPY streams
//! or `generate`'s files. The phase ends when the consumer has taken
//! everything (or failed) and the generators have stopped.
//!
//! Chunks never span units and carry their unit; one thread sends a unit's
//! chunks in order and ends it with [`Message::EndOfUnit`], so a consumer that
//! needs the canonical order (`generate` writing files) can restore it.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::children::Child;
use super::tables::{ChunkSink, Gen, Out, Scratch};
use super::{pools::Pools, Plan};
use crate::config::tables::Parent;
use crate::config::PipelineConfig;
use crate::error::{Error, Result};
use crate::model::{PerTable, Table};
use crate::report::{GeneratorReport, PhaseReport, TableReport};
use crate::util::fingerprint::{Fingerprint, UnitHasher};

/// The generation passes, in foreign-key order. Memberships come with their
/// conversations. Messages get a phase to themselves, so the largest table has
/// the server alone; the children pass re-derives each message's decisions
/// (cheap: no text, no encoding) and writes attachments, reads and receipts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    Users,
    Conversations,
    Messages,
    MessageChildren,
}

impl Pass {
    pub(crate) const ALL: [Pass; 4] = [
        Pass::Users,
        Pass::Conversations,
        Pass::Messages,
        Pass::MessageChildren,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Pass::Users => "users",
            Pass::Conversations => "conversations",
            Pass::Messages => "messages",
            Pass::MessageChildren => "message children",
        }
    }

    pub(crate) fn tables(self) -> &'static [Table] {
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

    /// The declared child tables generated in this pass (indexes into
    /// `plan.children`): each in the pass of its parent.
    pub(crate) fn children(self, plan: &Plan) -> Vec<usize> {
        let parent = match self {
            Pass::Users => Parent::Users,
            Pass::Conversations => Parent::Conversations,
            Pass::MessageChildren => Parent::Messages,
            Pass::Messages => return Vec::new(),
        };
        (0..plan.children.len())
            .filter(|&i| plan.children[i].decl.parent == parent)
            .collect()
    }

    pub(crate) fn units(self, plan: &Plan) -> &[std::ops::Range<u64>] {
        match self {
            Pass::Users => &plan.user_units,
            Pass::Conversations => &plan.conversation_units,
            Pass::Messages | Pass::MessageChildren => &plan.message_units,
        }
    }
}

/// A chunk of whole rows of one table, from unit `unit`.
pub(crate) struct Chunk {
    pub(crate) unit: u32,
    pub(crate) rows: u64,
    pub(crate) data: Bytes,
}

/// What a table's channel carries.
pub(crate) enum Message {
    Rows(Chunk),
    /// Every chunk of this unit has been sent.
    EndOfUnit {
        unit: u32,
        /// The fingerprint of the unit's rows of this table (kept with the
        /// unit's progress, so resumed runs and shards combine into the
        /// whole run's).
        fingerprint: Fingerprint,
    },
}

/// What one generator thread spent its time on, and the fingerprints of the
/// units it sent (per built-in table, and per declared child table of
/// `plan.children`).
#[derive(Debug, Default, Clone)]
struct GenStats {
    busy_ns: u64,
    blocked_ns: u64,
    units: u64,
    fingerprints: PerTable<Fingerprint>,
    child_fingerprints: Vec<Fingerprint>,
}

impl std::ops::AddAssign for GenStats {
    fn add_assign(&mut self, o: GenStats) {
        self.busy_ns += o.busy_ns;
        self.blocked_ns += o.blocked_ns;
        self.units += o.units;
        for t in Table::ALL {
            self.fingerprints[t] += o.fingerprints[t];
        }
        if self.child_fingerprints.len() < o.child_fingerprints.len() {
            self.child_fingerprints
                .resize(o.child_fingerprints.len(), Fingerprint::EMPTY);
        }
        for (f, o) in self.child_fingerprints.iter_mut().zip(o.child_fingerprints) {
            *f += o;
        }
    }
}

/// The consumer side of a phase: takes each table's chunks from its channel.
pub(crate) trait Consumer {
    /// How many channels (lanes) `table` gets; `start` is called once per
    /// lane. A unit's chunks all go to lane `unit % lanes`, so a lane sees
    /// every chunk of its units (a consumer can commit whole units).
    fn lanes(&self, _table: Table) -> usize {
        1
    }

    /// Starts taking the chunks of `table` from `rx` (before any is sent).
    fn start(&mut self, table: Table, rx: flume::Receiver<Message>);

    /// Starts taking the chunks of the declared child table `child` (the
    /// `i`-th of `plan.children`) from `rx`.
    fn start_child(&mut self, i: usize, child: &Child, rx: flume::Receiver<Message>);

    /// Waits until every channel is drained and returns one report per
    /// table, in the order started. On the first failure it sets `cancel`
    /// and drops its receivers, so the generators stop, and returns that
    /// failure.
    fn finish(
        &mut self,
        cancel: &AtomicBool,
    ) -> impl Future<Output = Result<Vec<TableReport>>> + Send;
}

/// The units of each table already durably in place (a resumed load's): the
/// generators skip a unit that every table of its pass holds, and send no
/// rows of a unit to a table that holds it.
/// The same per declared child table (`plan.children`): its units are
/// committed by its own COPY stream, so a unit may be in place for the
/// child and not for the built-in tables of the pass, or the other way round.
#[derive(Debug, Clone, Default)]
pub(crate) struct Committed {
    tables: PerTable<HashSet<u32>>,
    children: Vec<HashSet<u32>>,
}

impl Committed {
    /// Records unit `unit` of the `i`-th declared child table; false when it was already.
    pub(crate) fn insert_child(&mut self, i: usize, unit: u32) -> bool {
        if self.children.len() <= i {
            self.children.resize_with(i + 1, HashSet::new);
        }
        self.children[i].insert(unit)
    }

    /// Whether unit `unit` of the `i`-th declared child table is in place.
    pub(crate) fn has_child(&self, i: usize, unit: u32) -> bool {
        self.children.get(i).is_some_and(|s| s.contains(&unit))
    }
}

impl std::ops::Index<Table> for Committed {
    type Output = HashSet<u32>;
    fn index(&self, t: Table) -> &HashSet<u32> {
        &self.tables[t]
    }
}

impl std::ops::IndexMut<Table> for Committed {
    fn index_mut(&mut self, t: Table) -> &mut HashSet<u32> {
        &mut self.tables[t]
    }
}

/// The units of every pass that belong to the other shards: shard `index`
/// of `count` takes unit `u` of each pass when `u % count == index` (a
/// disjoint, deterministic slice; the shards together take every unit).
pub(crate) fn other_shards(plan: &Plan, index: u32, count: u32) -> Committed {
    let mut c = Committed::default();
    for pass in Pass::ALL {
        let n = pass.units(plan).len() as u32;
        for &t in pass.tables() {
            c[t].extend((0..n).filter(|u| u % count != index));
        }
        for i in pass.children(plan) {
            for u in (0..n).filter(|u| u % count != index) {
                c.insert_child(i, u);
            }
        }
    }
    c
}

/// Runs one phase: starts `consumer` on bounded channels (its lanes) per
/// table of `pass`, then the generator threads; waits for both. Units in
/// `committed` are not generated again.
pub(crate) async fn run_phase<C: Consumer>(
    pass: Pass,
    plan: &Arc<Plan>,
    pools: &Arc<Pools>,
    p: &PipelineConfig,
    consumer: &mut C,
    cancel: Arc<AtomicBool>,
    committed: Arc<Committed>,
) -> Result<PhaseReport> {
    let started = Instant::now();
    let mut senders: PerTable<Vec<flume::Sender<Message>>> = PerTable::default();
    for &t in pass.tables() {
        for _ in 0..consumer.lanes(t).max(1) {
            let (tx, rx) = flume::bounded(p.channel_chunks);
            senders[t].push(tx);
            consumer.start(t, rx);
        }
    }
    let children = pass.children(plan);
    let mut child_senders = vec![None; plan.children.len()];
    for &i in &children {
        let (tx, rx) = flume::bounded(p.channel_chunks);
        child_senders[i] = Some(tx);
        consumer.start_child(i, &plan.children[i], rx);
    }
    let gens = spawn_generators(
        pass,
        plan,
        pools,
        p,
        (senders, child_senders),
        cancel.clone(),
        committed,
    );
    let consumed = consumer.finish(&cancel).await;
    let gen = tokio::task::spawn_blocking(move || join_generators(gens))
        .await
        .map_err(|e| Error::Other(format!("generator threads: {e}")))??;
    // Each table's fingerprint, found by its name: a built-in table's or a
    // declared child table's.
    let tables = consumed.map(|mut tables| {
        for report in tables.iter_mut() {
            if let Some(&t) = pass.tables().iter().find(|t| t.name() == report.table) {
                report.fingerprint = gen.fingerprints[t];
            } else if let Some(&i) = children
                .iter()
                .find(|&&i| plan.children[i].name == report.table)
            {
                report.fingerprint = gen
                    .child_fingerprints
                    .get(i)
                    .copied()
                    .unwrap_or(Fingerprint::EMPTY);
            }
        }
        tables
    });
    Ok(PhaseReport {
        phase: pass.name().into(),
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
        generator: GeneratorReport {
            workers: p.workers,
            generating_ms: gen.busy_ns as f64 / 1e6,
            blocked_on_channel_ms: gen.blocked_ns as f64 / 1e6,
            units: gen.units,
        },
        tables: tables?,
    })
}

/// The senders of a phase's channels: per built-in table, and per declared
/// child table (`plan.children`), when the phase makes it.
type Senders = (
    PerTable<Vec<flume::Sender<Message>>>,
    Vec<Option<flume::Sender<Message>>>,
);

/// The generators' end of the channels. It hashes each unit's row bytes per
/// table on the way (chunks never span units, and this thread sends a unit's
/// chunks in order), so the fingerprint costs one pass over bytes already in
/// cache.
struct ChannelSink {
    senders: PerTable<Vec<flume::Sender<Message>>>,
    committed: Arc<Committed>,
    /// Per declared child table (`plan.children`), when this pass makes it.
    child_senders: Vec<Option<flume::Sender<Message>>>,
    unit: u32,
    cancel: Arc<AtomicBool>,
    blocked_ns: u64,
    hashers: PerTable<UnitHasher>,
    fingerprints: PerTable<Fingerprint>,
    /// The same per declared child table (`plan.children`).
    child_hashers: Vec<UnitHasher>,
    child_fingerprints: Vec<Fingerprint>,
}

impl ChannelSink {
    /// Tells the consumers of `tables` that the current unit is complete,
    /// and adds the unit's hashes to the tables' fingerprints.
    fn end_unit(&mut self, tables: &[Table]) {
        for &t in tables {
            if self.committed[t].contains(&self.unit) {
                continue;
            }
            let fingerprint = self.hashers[t].finish_unit();
            if let Some(tx) = self.lane(t) {
                let _ = tx.send(Message::EndOfUnit {
                    unit: self.unit,
                    fingerprint,
                });
                self.fingerprints[t] += fingerprint;
            }
        }
        for (i, tx) in self.child_senders.iter().enumerate() {
            let Some(tx) = tx else { continue };
            if self.committed.has_child(i, self.unit) {
                continue;
            }
            let fingerprint = self.child_hashers[i].finish_unit();
            let _ = tx.send(Message::EndOfUnit {
                unit: self.unit,
                fingerprint,
            });
            self.child_fingerprints[i] += fingerprint;
        }
    }

    /// The channel of the current unit's lane of `table`.
    fn lane(&self, table: Table) -> Option<&flume::Sender<Message>> {
        let lanes = &self.senders[table];
        (!lanes.is_empty()).then(|| &lanes[self.unit as usize % lanes.len()])
    }

    fn send_to(&mut self, tx: Option<flume::Sender<Message>>, chunk: BytesMut, rows: u64) -> bool {
        if self.cancel.load(Ordering::Relaxed) {
            return false;
        }
        let Some(tx) = tx else {
            return true;
        };
        let t0 = Instant::now();
        let ok = tx
            .send(Message::Rows(Chunk {
                unit: self.unit,
                rows,
                data: chunk.freeze(),
            }))
            .is_ok();
        self.blocked_ns += t0.elapsed().as_nanos() as u64;
        ok
    }
}

impl ChunkSink for ChannelSink {
    fn send(&mut self, table: Table, chunk: BytesMut, rows: u64) -> bool {
        if self.committed[table].contains(&self.unit) {
            // Committed by an earlier attempt (resume) or another shard.
            return !self.cancel.load(Ordering::Relaxed);
        }
        let tx = self.lane(table).cloned();
        if tx.is_some() {
            self.hashers[table].update(&chunk);
        }
        self.send_to(tx, chunk, rows)
    }

    fn send_child(&mut self, i: usize, chunk: BytesMut, rows: u64) -> bool {
        if self.committed.has_child(i, self.unit) {
            return !self.cancel.load(Ordering::Relaxed);
        }
        let tx = self.child_senders.get(i).cloned().flatten();
        if tx.is_some() {
            self.child_hashers[i].update(&chunk);
        }
        self.send_to(tx, chunk, rows)
    }
}

/// Starts `p.workers` generator threads for `pass`. Each sends to the channel
/// of each table of the pass; threads end when the units run out, the cancel
/// flag is set, or a channel closes.
fn spawn_generators(
    pass: Pass,
    plan: &Arc<Plan>,
    pools: &Arc<Pools>,
    p: &PipelineConfig,
    (senders, child_senders): Senders,
    cancel: Arc<AtomicBool>,
    committed: Arc<Committed>,
) -> Vec<std::thread::JoinHandle<GenStats>> {
    let next = Arc::new(AtomicUsize::new(0));
    (0..p.workers)
        .map(|w| {
            let sink = ChannelSink {
                senders: senders.clone(),
                committed: committed.clone(),
                child_hashers: vec![UnitHasher::default(); child_senders.len()],
                child_fingerprints: vec![Fingerprint::EMPTY; child_senders.len()],
                child_senders: child_senders.clone(),
                unit: 0,
                cancel: cancel.clone(),
                blocked_ns: 0,
                hashers: PerTable::default(),
                fingerprints: PerTable::default(),
            };
            let (plan, pools, next, chunk_bytes) =
                (plan.clone(), pools.clone(), next.clone(), p.chunk_bytes);
            std::thread::Builder::new()
                .name(format!("gen-{}-{w}", pass.name()))
                .spawn(move || generate_units(pass, &plan, &pools, &next, chunk_bytes, sink))
                .expect("spawn generator thread")
        })
        .collect()
}

/// One generator thread: claims units from `next` until they run out or the
/// phase stops.
fn generate_units(
    pass: Pass,
    plan: &Plan,
    pools: &Pools,
    next: &AtomicUsize,
    chunk_bytes: usize,
    mut sink: ChannelSink,
) -> GenStats {
    let gen = Gen::new(plan, pools);
    let mut scratch = Scratch::default();
    let mut stats = GenStats::default();
    let units = pass.units(plan);
    let children = pass.children(plan);
    let started = Instant::now();
    loop {
        let u = next.fetch_add(1, Ordering::Relaxed);
        if u >= units.len() || sink.cancel.load(Ordering::Relaxed) {
            break;
        }
        sink.unit = u as u32;
        if pass
            .tables()
            .iter()
            .all(|t| sink.committed[*t].contains(&sink.unit))
            && children
                .iter()
                .all(|&i| sink.committed.has_child(i, sink.unit))
        {
            continue;
        }
        let mut out = Out::with_rules(&mut sink, chunk_bytes, pass.tables(), &plan.rules)
            .with_children(&plan.children, &children);
        let unit = units[u].clone();
        match pass {
            Pass::Users => gen.users(unit, &mut out),
            Pass::Conversations => gen.conversations(unit, &mut out, &mut scratch),
            Pass::Messages | Pass::MessageChildren => gen.messages(unit, &mut out, &mut scratch),
        }
        out.flush();
        if out.stopped {
            break;
        }
        sink.end_unit(pass.tables());
        stats.units += 1;
    }
    stats.blocked_ns = sink.blocked_ns;
    stats.fingerprints = sink.fingerprints;
    stats.child_fingerprints = sink.child_fingerprints;
    stats.busy_ns = (started.elapsed().as_nanos() as u64).saturating_sub(sink.blocked_ns);
    stats
}

fn join_generators(handles: Vec<std::thread::JoinHandle<GenStats>>) -> Result<GenStats> {
    let mut total = GenStats::default();
    for h in handles {
        total += h
            .join()
            .map_err(|_| Error::Other("a generator thread panicked".into()))?;
    }
    Ok(total)
}
