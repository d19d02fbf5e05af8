//! One generator per table group. A unit of work (a range of users or of
//! conversations) is written row by row straight into per-table PGCOPY buffers
//! (`Out`), which hand full chunks to the pipeline. Every value is a function
//! of (seed, table, index): the same unit always produces the same rows.
//!
//! Conversations and their memberships come from one pass; messages,
//! attachments, read receipts and reads from another, so each message is
//! generated once.

use bytes::{BufMut, BytesMut};
use rand::RngCore;

use super::children::{Child, ChildParent};
use super::dist::{beta, chance, exponential, lognormal, normal, pick_cdf, range, uniform};
use super::ids::{uuid_for, ID_LEN};
use super::plan::{Class, FitTables, Plan, CONVERSATION_TYPES, FIT_MESSAGE_KINDS};
use super::pools::{pick, Pools};
use super::rng::{family, keyed_unit, mix64, stream, tag};
use super::time::timeline;
use crate::config::tables::Parent;
use crate::copy::{self, put_decimal};
use crate::model::{PerTable, Table};
use crate::rules::{ParentRow, RowCtx, Rules, TableRules};

/// The consumer of finished chunks: `(table, chunk, rows)`. Returns false when
/// the pipeline is shutting down, so generators stop promptly.
pub trait ChunkSink {
    fn send(&mut self, table: Table, chunk: BytesMut, rows: u64) -> bool;
    /// A chunk of the `i`-th declared child table (`Plan::children`).
    fn send_child(&mut self, i: usize, chunk: BytesMut, rows: u64) -> bool {
        let _ = (i, chunk, rows);
        true
    }
}

/// Per-table chunks of one generator task.
pub struct Out<'s, S: ChunkSink> {
    chunks: PerTable<copy::Rows>,
    /// The tables this task produces; generators skip encoding the others.
    wanted: PerTable<bool>,
    chunk_bytes: usize,
    /// Per declared child table: its chunk, when this task produces it.
    children: Vec<Option<copy::Rows>>,
    sink: &'s mut S,
    pub stopped: bool,
}

impl<'s, S: ChunkSink> Out<'s, S> {
    /// Buffers for `tables`; rows of other tables are not encoded at all.
    pub fn new(sink: &'s mut S, chunk_bytes: usize, tables: &[Table]) -> Self {
        Out::with_rules(sink, chunk_bytes, tables, &Rules::none())
    }

    /// As [`Out::new`], with each table's rows widened by its column rules.
    pub fn with_rules(
        sink: &'s mut S,
        chunk_bytes: usize,
        tables: &[Table],
        rules: &Rules,
    ) -> Self {
        let wanted = PerTable::from_fn(|t| tables.contains(&t));
        Out {
            chunks: PerTable::from_fn(|t| {
                let width = t.width() + rules.for_table(t.name()).len() as i16;
                copy::Rows::with_capacity(width, if wanted[t] { chunk_bytes + 8192 } else { 0 })
            }),
            wanted,
            chunk_bytes,
            children: Vec::new(),
            sink,
            stopped: false,
        }
    }

    /// Also produces the child tables `which` (indexes into `children`).
    pub fn with_children(mut self, children: &[Child], which: &[usize]) -> Self {
        self.children = (0..children.len())
            .map(|i| {
                which.contains(&i).then(|| {
                    copy::Rows::with_capacity(children[i].width(), self.chunk_bytes + 8192)
                })
            })
            .collect();
        self
    }

    /// Rows of the `i`-th child table of the generators' `children`, for
    /// the parent `p`.
    #[inline]
    fn child_rows(
        &mut self,
        i: usize,
        child: &Child,
        p: &ChildParent,
        user_ids: &[[u8; ID_LEN]],
        user_created_ms: impl Fn(u64) -> i64,
        end_ms: i64,
    ) {
        let Some(Some(rows)) = self.children.get_mut(i) else {
            return;
        };
        child.parent_rows(p, user_ids, user_created_ms, end_ms, rows);
        if rows.len_bytes() >= self.chunk_bytes {
            self.flush_child(i);
        }
    }

    fn flush_child(&mut self, i: usize) {
        let Some(Some(rows)) = self.children.get_mut(i) else {
            return;
        };
        if rows.rows() == 0 {
            return;
        }
        let (full, n) = rows.take(self.chunk_bytes + 8192);
        if !self.sink.send_child(i, full, n) {
            self.stopped = true;
        }
    }

    #[inline]
    pub fn wants(&self, t: Table) -> bool {
        self.wanted[t]
    }

    /// Starts a row of `t`; its fields follow, then [`Out::end_row`].
    #[inline]
    fn buf(&mut self, t: Table) -> &mut BytesMut {
        self.chunks[t].begin_row()
    }

    #[inline]
    fn end_row(&mut self, t: Table) {
        if self.chunks[t].end_row() >= self.chunk_bytes {
            self.flush_one(t);
        }
    }

    fn flush_one(&mut self, t: Table) {
        if self.chunks[t].rows() == 0 {
            return;
        }
        let (full, rows) = self.chunks[t].take(self.chunk_bytes + 8192);
        if !self.sink.send(t, full, rows) {
            self.stopped = true;
        }
    }

    /// Hands every non-empty buffer to the sink (end of a unit).
    pub fn flush(&mut self) {
        for t in Table::ALL {
            self.flush_one(t);
        }
        for i in 0..self.children.len() {
            self.flush_child(i);
        }
    }
}

#[inline]
fn id(buf: &mut BytesMut, v: &[u8; ID_LEN]) {
    copy::bytes(buf, v);
}

/// The shared read-only state generators work from.
pub struct Gen<'a> {
    pub plan: &'a Plan,
    pub pools: &'a Pools,
    /// Key of the read-receipt draws, computed once.
    pair_family: u64,
    /// The declared child tables off each parent (indexes into `plan.children`).
    children_of: [Vec<usize>; 3],
    /// Each table's column rules (most often none).
    rules: PerTable<&'a TableRules>,
}

/// Scratch buffers reused across units by one generator task.
#[derive(Default)]
pub struct Scratch {
    times: Vec<i64>,
    sender_cdf: Vec<f64>,
    outcomes: Vec<(usize, Option<i64>, Option<i64>)>,
}

/// Delivery and read times of one (message, recipient) pair; `None` = not
/// reached before the window's end.
#[derive(Debug, Clone, Copy)]
pub struct PairOutcome {
    pub delivered_at: Option<i64>,
    pub read_at: Option<i64>,
}

impl<'a> Gen<'a> {
    pub fn new(plan: &'a Plan, pools: &'a Pools) -> Self {
        Gen {
            plan,
            pools,
            pair_family: family(plan.cfg.seed, tag::PAIR),
            children_of: [Parent::Messages, Parent::Conversations, Parent::Users].map(|p| {
                (0..plan.children.len())
                    .filter(|&i| plan.children[i].decl.parent == p)
                    .collect()
            }),
            rules: PerTable::from_fn(|t| plan.rules.for_table(t.name())),
        }
    }

    /// The declared child tables off `parent` (indexes into `plan.children`).
    pub fn children_of(&self, parent: Parent) -> &[usize] {
        &self.children_of[parent as usize]
    }

    /// The rows of every child table off `parent` for one parent row.
    #[inline]
    fn child_rows<S: ChunkSink>(&self, parent: Parent, p: &ChildParent, out: &mut Out<S>) {
        for &i in self.children_of(parent) {
            out.child_rows(
                i,
                &self.plan.children[i],
                p,
                &self.plan.user_ids,
                |u| self.plan.user_created_ms(u),
                self.end_ms(),
            );
        }
    }

    fn seed(&self) -> u64 {
        self.plan.cfg.seed
    }

    fn end_ms(&self) -> i64 {
        self.plan.cfg.window.end_ms
    }

    /// User `u` as the parent of a row with column rules.
    #[inline]
    fn user_row(&self, u: u32) -> ParentRow<'static> {
        ParentRow {
            table: "users",
            key: u as u64,
            created_ms: self.plan.user_created_ms(u as u64),
            parents: &[],
        }
    }

    // ---------------------------------------------------------------- users

    /// Usernames: a handle cut to a normal(12, 4) length, ending with the
    /// user's index in fixed-width base36, so they are unique by construction.
    fn username(&self, r: &mut impl RngCore, u: u64, out: &mut [u8; 40]) -> usize {
        let s = &self.plan.cfg.shape;
        let n = self.plan.cfg.counts.users;
        let width = base36_width(n.saturating_sub(1));
        let target = normal(r, s.username_len_mean, s.username_len_sd)
            .round()
            .clamp(3.0, 30.0) as usize;
        let target = target.max(width);
        let prefix_len = target - width;
        let first = pick(r, &self.pools.handles).as_bytes();
        let second = pick(r, &self.pools.handles).as_bytes();
        let mut len = 0;
        let mut src = first.iter().chain(b"_".iter()).chain(second.iter()).cycle();
        while len < prefix_len {
            out[len] = *src.next().unwrap();
            len += 1;
        }
        if len > 0 && out[len - 1] == b'_' {
            out[len - 1] = b'x';
        }
        let mut v = u;
        for i in (0..width).rev() {
            out[len + i] = b"0123456789abcdefghijklmnopqrstuvwxyz"[(v % 36) as usize];
            v /= 36;
        }
        len + width
    }

    pub fn users<S: ChunkSink>(&self, unit: std::ops::Range<u64>, out: &mut Out<S>) {
        let plan = self.plan;
        let s = &plan.cfg.shape;
        let end = self.end_ms();
        for u in unit {
            let mut r = stream(self.seed(), tag::USER, u);
            let mut name = [0u8; 40];
            let name_len = self.username(&mut r, u, &mut name);
            let name = &name[..name_len];
            let created = plan.user_created_ms(u);
            let completeness = beta(&mut r, s.profile_beta_a, s.profile_beta_b);
            let active = chance(&mut r, s.active_user_share);
            let b = out.buf(Table::Users);
            let row_at = b.len() - 2; // the tuple begun: its field count
            id(b, &plan.user_ids[u as usize]);
            copy::text_with(b, |b| {
                b.put_slice(b"syn_");
                b.put_slice(name);
                b.put_slice(b"@example.com");
            });
            copy::bytes(b, name);
            let first = chance(&mut r, completeness).then(|| pick(&mut r, &self.pools.first_names));
            copy::opt_text(b, first);
            let last = chance(&mut r, completeness).then(|| pick(&mut r, &self.pools.last_names));
            copy::opt_text(b, last);
            let bio = chance(&mut r, completeness).then(|| pick(&mut r, &self.pools.sentences));
            copy::opt_text(b, bio);
            if chance(&mut r, completeness) {
                copy::text_with(b, |b| {
                    b.put_slice(b"https://img.example.com/u/");
                    b.put_slice(&plan.user_ids[u as usize]);
                    b.put_slice(b".jpg");
                });
            } else {
                copy::null(b);
            }
            copy::boolean(b, active);
            copy::int4(
                b,
                if chance(&mut r, 0.3) {
                    range(&mut r, 1, 3) as i32
                } else {
                    0
                },
            );
            copy::int4(b, range(&mut r, 0, 5) as i32);
            let anon = chance(&mut r, 0.2)
                .then(|| created + range(&mut r, 0, (end - created) as u64 - 1) as i64);
            copy::opt_timestamp_ms(b, anon);
            // Monday 00:00 UTC of the window's last week.
            let day = end.div_euclid(86_400_000);
            let monday = (day - (day + 3).rem_euclid(7)) * 86_400_000;
            copy::timestamp_ms(b, monday.max(created));
            copy::boolean(b, !chance(&mut r, 0.1));
            copy::boolean(b, !chance(&mut r, 0.15));
            let vis = match uniform(&mut r) {
                x if x < 0.70 => "PUBLIC",
                x if x < 0.85 => "CONNECTIONS_ONLY",
                x if x < 0.90 => "CLOSE_FRIENDS_ONLY",
                _ => "PRIVATE",
            };
            copy::text(b, vis);
            let online = active && chance(&mut r, 0.05);
            copy::boolean(b, online);
            let seen = if active {
                Some(
                    end - 1
                        - range(&mut r, 0, (7 * 86_400_000).min(end - created - 1) as u64) as i64,
                )
            } else {
                chance(&mut r, 0.5).then_some(created + (end - created) / 3)
            };
            copy::opt_timestamp_ms(b, seen);
            copy::null(b); // typingIn
            copy::opt_timestamp_ms(b, seen.map(|t| (t - 60_000).max(created)));
            copy::timestamp_ms(b, created);
            copy::timestamp_ms(b, seen.unwrap_or(created).max(created));
            let rules = self.rules[Table::Users];
            if !rules.is_empty() {
                let ctx = RowCtx {
                    key: u,
                    created_ms: created,
                    parents: &[],
                };
                rules.encode_row(&ctx, row_at, b);
            }
            out.end_row(Table::Users);
            let parent = ChildParent {
                key: u,
                id: &plan.user_ids[u as usize],
                created_ms: created,
                actors: &[],
                excluded: None,
                row: ParentRow {
                    table: "users",
                    key: u,
                    created_ms: created,
                    parents: &[],
                },
            };
            self.child_rows(Parent::Users, &parent, out);
        }
    }

    // -------------------------------------------------------- conversations

    /// Cumulative sender weights of conversation `c`'s members.
    fn sender_cdf(&self, c: usize, cdf: &mut Vec<f64>) {
        cdf.clear();
        let mut acc = 0.0;
        for &m in self.plan.members_of(c) {
            acc += self.plan.sender_weight[m as usize] as f64;
            cdf.push(acc);
        }
    }

    /// The sender slot of global message `g`: the first draw of its stream.
    #[inline]
    fn sender_of(&self, g: u64, cdf: &[f64]) -> (rand_pcg::Pcg64Mcg, usize) {
        let mut r = stream(self.seed(), tag::MESSAGE, g);
        let slot = pick_cdf(&mut r, cdf);
        (r, slot)
    }

    /// Whether conversation `c` gets receipts and reads (rooms up to N members).
    #[inline]
    fn has_receipts(&self, c: usize) -> bool {
        self.plan.members_of(c).len() <= self.plan.cfg.shape.receipts_max_room_members as usize
    }

    /// Delivery and read of message `g` (sent at `t`) by member `slot`: a pure
    /// function, so memberships can find their last read without the messages.
    pub fn pair_outcome(&self, g: u64, slot: usize, t: i64) -> PairOutcome {
        let s = &self.plan.cfg.shape;
        let base = mix64(self.pair_family ^ (g * 256 + slot as u64));
        let u = |k| keyed_unit(base, k);
        let state = u(0);
        let end = self.end_ms();
        let delivered = t + 200 + (-(3_000.0) * (1.0 - u(1)).ln()) as i64;
        let delivered_at = (state < s.delivered_share && delivered < end).then_some(delivered);
        let read_at = if state < s.read_share {
            let reads = s.read_within_30s_share + s.read_exponential_share + s.read_lognormal_share;
            let mix = u(2) * reads;
            let fitted = self
                .plan
                .fit
                .as_ref()
                .and_then(|f| f.read_delay_ms.as_ref());
            let delay_ms = if let Some(t) = fitted {
                t.at(u(3))
            } else if mix < s.read_within_30s_share {
                500.0 + u(3) * 29_500.0
            } else if mix < s.read_within_30s_share + s.read_exponential_share {
                -s.read_exponential_mean_min * 60_000.0 * (1.0 - u(3)).ln()
            } else {
                let z = (-2.0 * (1.0 - u(3)).ln()).sqrt() * (std::f64::consts::TAU * u(4)).cos();
                (s.read_lognormal_mu_min + s.read_lognormal_sigma * z).exp() * 60_000.0
            };
            let at = (t + delay_ms as i64).max(delivered);
            (at < end).then_some(at)
        } else {
            None
        };
        PairOutcome {
            delivered_at: delivered_at.or(read_at.map(|_| delivered)),
            read_at,
        }
    }

    pub fn conversations<S: ChunkSink>(
        &self,
        unit: std::ops::Range<u64>,
        out: &mut Out<S>,
        scratch: &mut Scratch,
    ) {
        let plan = self.plan;
        let end = self.end_ms();
        for c in unit {
            let ci = c as usize;
            let n_msgs = plan.message_count(ci) as usize;
            let first = plan.first_message_floor(ci);
            timeline(
                &mut stream(self.seed(), tag::TIMELINE, c),
                &plan.density,
                &plan.cfg.shape,
                first,
                end,
                n_msgs,
                &mut scratch.times,
            );
            let last_at = *scratch.times.last().unwrap();
            let last_id = plan.ids.message.id(last_at, plan.msg_off[ci + 1] - 1);
            let members = plan.members_of(ci);
            let class = plan.class[ci];
            let mut r = stream(self.seed(), tag::CONVERSATION, c);
            let created = plan.conv_created_ms[ci];

            let b = out.buf(Table::Conversations);

            let row_at = b.len() - 2; // the tuple begun: its field count
            id(b, &plan.conv_ids[ci]);
            if class == Class::Direct {
                copy::null(b);
                copy::null(b);
            } else {
                copy::text(b, pick(&mut r, &self.pools.group_names));
                let desc = chance(&mut r, 0.5).then(|| pick(&mut r, &self.pools.sentences));
                copy::opt_text(b, desc);
            }
            let ty = plan.conv_type[ci] as usize;
            copy::text(b, CONVERSATION_TYPES[ty]);
            if class != Class::Direct && chance(&mut r, 0.4) {
                copy::text_with(b, |b| {
                    b.put_slice(b"https://img.example.com/c/");
                    b.put_slice(&plan.conv_ids[ci]);
                    b.put_slice(b".png");
                });
            } else {
                copy::null(b);
            }
            copy::boolean(b, !chance(&mut r, 0.02));
            copy::boolean(b, class != Class::Direct);
            copy::boolean(b, !chance(&mut r, 0.05));
            copy::opt_int4(
                b,
                match ty {
                    0 => None,
                    1 => Some(256),
                    _ => Some(5_000),
                },
            );
            copy::timestamp_ms(b, last_at);
            id(b, &last_id);
            id(b, &plan.user_ids[members[0] as usize]);
            copy::timestamp_ms(b, created);
            copy::timestamp_ms(b, last_at);
            let creator = self.user_row(members[0]);
            let creators = [creator];
            let conv_row = ParentRow {
                table: "conversations",
                key: c,
                created_ms: created,
                parents: &creators,
            };
            let rules = self.rules[Table::Conversations];
            if !rules.is_empty() {
                rules.encode_row(&conv_row.ctx(), row_at, b);
            }
            out.end_row(Table::Conversations);

            // Memberships, with each member's last read found by walking back
            // from the newest message (expected a step or two).
            self.sender_cdf(ci, &mut scratch.sender_cdf);
            let receipts = self.has_receipts(ci);
            for (slot, &user) in members.iter().enumerate() {
                let mut mr = stream(
                    self.seed(),
                    tag::MEMBERSHIP,
                    plan.member_off[ci] + slot as u64,
                );
                let joined = plan.joined_at(ci, slot);
                let mut last_read: Option<(i64, u64)> = None;
                if receipts {
                    for k in (0..n_msgs).rev() {
                        let g = plan.msg_off[ci] + k as u64;
                        let (_, sender) = self.sender_of(g, &scratch.sender_cdf);
                        if sender == slot {
                            continue;
                        }
                        if self
                            .pair_outcome(g, slot, scratch.times[k])
                            .read_at
                            .is_some()
                        {
                            last_read = Some((scratch.times[k], g));
                            break;
                        }
                    }
                }
                let b = out.buf(Table::ConversationUsers);
                let row_at = b.len() - 2; // the tuple begun: its field count
                id(
                    b,
                    &plan
                        .ids
                        .membership
                        .id(joined, plan.member_off[ci] + slot as u64),
                );
                let role = if class == Class::Direct {
                    "MEMBER"
                } else if slot == 0 {
                    "OWNER"
                } else if chance(&mut mr, 0.05) {
                    "ADMIN"
                } else {
                    "MEMBER"
                };
                copy::text(b, role);
                copy::boolean(b, true);
                let muted = chance(&mut mr, 0.08);
                copy::boolean(b, muted);
                let until = (muted && chance(&mut mr, 0.5))
                    .then(|| end + range(&mut mr, 1, 30) as i64 * 86_400_000);
                copy::opt_timestamp_ms(b, until);
                copy::timestamp_ms(b, joined);
                copy::null(b); // leftAt
                match last_read {
                    Some((at, g)) => {
                        copy::timestamp_ms(b, at);
                        id(b, &plan.ids.message.id(at, g));
                    }
                    None => {
                        copy::null(b);
                        copy::null(b);
                    }
                }
                id(b, &plan.user_ids[user as usize]);
                id(b, &plan.conv_ids[ci]);
                copy::timestamp_ms(b, joined);
                copy::timestamp_ms(b, last_read.map_or(joined, |(at, _)| at.max(joined)));
                let rules = self.rules[Table::ConversationUsers];
                if !rules.is_empty() {
                    let parents = [conv_row, self.user_row(user)];
                    let ctx = RowCtx {
                        key: plan.member_off[ci] + slot as u64,
                        created_ms: joined,
                        parents: &parents,
                    };
                    rules.encode_row(&ctx, row_at, b);
                }
                out.end_row(Table::ConversationUsers);
            }
            let parent = ChildParent {
                key: c,
                id: &plan.conv_ids[ci],
                created_ms: created,
                actors: members,
                excluded: None,
                row: conv_row,
            };
            self.child_rows(Parent::Conversations, &parent, out);
            if out.stopped {
                return;
            }
        }
    }

    // ------------------------------------------------------------- messages

    pub fn messages<S: ChunkSink>(
        &self,
        unit: std::ops::Range<u64>,
        out: &mut Out<S>,
        scratch: &mut Scratch,
    ) {
        let plan = self.plan;
        let seed = self.seed();
        for c in unit {
            let ci = c as usize;
            let n_msgs = plan.message_count(ci) as usize;
            timeline(
                &mut stream(seed, tag::TIMELINE, c),
                &plan.density,
                &plan.cfg.shape,
                plan.first_message_floor(ci),
                self.end_ms(),
                n_msgs,
                &mut scratch.times,
            );
            self.sender_cdf(ci, &mut scratch.sender_cdf);
            let members = plan.members_of(ci);
            let receipts = self.has_receipts(ci);
            let creators = [self.user_row(members[0])];
            let conv_row = ParentRow {
                table: "conversations",
                key: c,
                created_ms: plan.conv_created_ms[ci],
                parents: &creators,
            };
            for k in 0..n_msgs {
                let g = plan.msg_off[ci] + k as u64;
                let t = scratch.times[k];
                let (mut r, sender_slot) = self.sender_of(g, &scratch.sender_cdf);
                let msg_parents = [conv_row, self.user_row(members[sender_slot])];
                let m = Msg {
                    row: ParentRow {
                        table: "messages",
                        key: g,
                        created_ms: t,
                        parents: &msg_parents,
                    },
                    g,
                    k,
                    t,
                    id: plan.ids.message.id(t, g),
                    sender: &plan.user_ids[members[sender_slot] as usize],
                    conversation: &plan.conv_ids[ci],
                    group: plan.class[ci] != Class::Direct,
                    receipts,
                    attachments: self.attachment_kinds(&mut r),
                    times: &scratch.times,
                };
                // Receipts: outcomes for every other member (a pure function
                // of the pair); the message row's status summarises them.
                scratch.outcomes.clear();
                if receipts {
                    for slot in (0..members.len()).filter(|&s| s != sender_slot) {
                        let o = self.pair_outcome(g, slot, t);
                        scratch.outcomes.push((slot, o.delivered_at, o.read_at));
                    }
                }
                // The rest of `r` decides only the message row: the children
                // pass (attachments have their own stream) skips it.
                if out.wants(Table::Messages) {
                    self.message_row(&mut r, &m, &scratch.outcomes, out);
                }
                if out.wants(Table::Attachments) {
                    let mut ar = stream(seed, tag::ATTACHMENT, g);
                    for (j, &kind) in m.attachments.iter().enumerate() {
                        self.attachment(&mut ar, g * 8 + j as u64, kind, &m, out);
                    }
                }
                self.receipts_and_reads(&m, members, &scratch.outcomes, out);
                if !self.children_of(Parent::Messages).is_empty() {
                    let parent = ChildParent {
                        key: g,
                        id: &m.id,
                        created_ms: t,
                        actors: members,
                        excluded: Some(sender_slot),
                        row: m.row,
                    };
                    self.child_rows(Parent::Messages, &parent, out);
                }
            }
            if out.stopped {
                return;
            }
        }
    }

    /// How many attachments a message has (the type follows the first), drawn
    /// from the message's stream right after its sender.
    fn attachment_kinds(&self, r: &mut rand_pcg::Pcg64Mcg) -> Attachments {
        if let Some(f) = &self.plan.fit {
            return fitted_kinds(f, r);
        }
        let s = &self.plan.cfg.shape;
        let u_att = uniform(r);
        let n = if u_att < s.attachment_one_share {
            1
        } else if u_att < s.attachment_one_share + s.attachment_several_share {
            range(r, 2, 5) as usize
        } else {
            0
        };
        let mut kinds = [AttachmentKind::Image; 5];
        for a in kinds.iter_mut().take(n) {
            let x = uniform(r);
            *a = if x < s.attachment_image_share {
                AttachmentKind::Image
            } else if x < s.attachment_image_share + s.attachment_video_share {
                AttachmentKind::Video
            } else if x < s.attachment_image_share
                + s.attachment_video_share
                + s.attachment_document_share
            {
                AttachmentKind::Document
            } else {
                AttachmentKind::Audio
            };
        }
        Attachments {
            kinds,
            n,
            other: None,
        }
    }

    /// The message row: type, content, edits, deletion, reply, metadata.
    fn message_row<S: ChunkSink>(
        &self,
        r: &mut rand_pcg::Pcg64Mcg,
        m: &Msg,
        outcomes: &[(usize, Option<i64>, Option<i64>)],
        out: &mut Out<S>,
    ) {
        let s = &self.plan.cfg.shape;
        let (end, t) = (self.end_ms(), m.t);
        let n_att = m.attachments.n;
        let kind_u = uniform(r);
        let msg_type = if n_att > 0 {
            m.attachments.kinds[0].message_type()
        } else if let Some(other) = m.attachments.other {
            other
        } else if m.group && kind_u < s.system_share_in_groups {
            "SYSTEM"
        } else if kind_u > 1.0 - s.location_share {
            "LOCATION"
        } else {
            "TEXT"
        };
        let deleted = chance(r, s.deleted_share);
        let fit = self.plan.fit.as_ref();
        // A fitted shape edits and replies in any room, as measured.
        let edited = !deleted
            && match fit {
                Some(f) => chance(r, f.edit_given_kept),
                None => msg_type == "TEXT" && chance(r, s.edited_share),
            };
        let replies = match fit {
            Some(f) => m.k > 0 && chance(r, f.reply_share),
            None => m.group && m.k > 0 && chance(r, s.reply_share_in_groups),
        };
        let reply_to = replies.then(|| m.g - 1 - range(r, 0, (m.k as u64 - 1).min(20)));
        let text_len = match fit {
            Some(f) => f.text_len.sample(r),
            None => lognormal(r, s.text_len_mu, s.text_len_sigma),
        }
        .round()
        .clamp(1.0, s.text_len_max_chars as f64) as usize;
        let caption = n_att > 0 && chance(r, 0.3);
        let edited_at = edited.then(|| {
            (t + 1 + exponential(r, 300_000.0) as i64)
                .min(end - 1)
                .max(t + 1)
        });
        let deleted_at = deleted.then(|| {
            (t + 1 + exponential(r, 3_600_000.0) as i64)
                .min(end - 1)
                .max(t + 1)
        });
        let status = if deleted {
            "DELETED"
        } else if !m.receipts {
            "DELIVERED"
        } else if outcomes.iter().all(|o| o.2.is_some()) {
            "READ"
        } else if outcomes.iter().all(|o| o.1.is_some()) {
            "DELIVERED"
        } else {
            "SENT"
        };

        let b = out.buf(Table::Messages);

        let row_at = b.len() - 2; // the tuple begun: its field count
        id(b, &m.id);
        if deleted || msg_type == "LOCATION" || (n_att > 0 && !caption) {
            copy::null(b);
        } else if msg_type == "SYSTEM" {
            copy::text(b, "A member joined the conversation");
        } else {
            let len = if n_att > 0 {
                text_len.min(200)
            } else {
                text_len
            };
            copy::text(b, self.pools.text(r, len));
        }
        copy::text(b, msg_type);
        copy::text(b, status);
        copy::boolean(b, edited);
        copy::opt_timestamp_ms(b, edited_at);
        copy::boolean(b, deleted);
        copy::opt_timestamp_ms(b, deleted_at);
        match reply_to {
            Some(j) => {
                // j is an earlier message of this conversation.
                let rid = self
                    .plan
                    .ids
                    .message
                    .id(m.times[(j - (m.g - m.k as u64)) as usize], j);
                id(b, &rid);
                // A fitted shape threads the measured share of messages.
                if fit.is_none_or(|f| chance(r, f.thread_given_reply)) {
                    id(b, &rid);
                } else {
                    copy::null(b);
                }
            }
            None => {
                copy::null(b);
                copy::null(b);
            }
        }
        metadata(b, r, msg_type, n_att);
        let mut key = [0u8; 36];
        uuid_for(self.seed(), m.g, &mut key);
        copy::bytes(b, &key);
        if chance(r, 0.3) {
            let mut corr = [0u8; 36];
            uuid_for(r.next_u64(), r.next_u64() >> 24, &mut corr);
            copy::bytes(b, &corr);
        } else {
            copy::null(b);
        }
        id(b, m.sender);
        id(b, m.conversation);
        copy::timestamp_ms(b, t);
        copy::timestamp_ms(
            b,
            t.max(edited_at.unwrap_or(t)).max(deleted_at.unwrap_or(t)),
        );
        let rules = self.rules[Table::Messages];
        if !rules.is_empty() {
            rules.encode_row(&m.row.ctx(), row_at, b);
        }
        out.end_row(Table::Messages);
    }

    /// The DELIVERED and READ receipts and the reads of one message.
    fn receipts_and_reads<S: ChunkSink>(
        &self,
        m: &Msg,
        members: &[u32],
        outcomes: &[(usize, Option<i64>, Option<i64>)],
        out: &mut Out<S>,
    ) {
        let plan = self.plan;
        let (receipts_wanted, reads_wanted) = (
            out.wants(Table::MessageReceipts),
            out.wants(Table::MessageReads),
        );
        for &(slot, delivered_at, read_at) in outcomes {
            let user_id = &plan.user_ids[members[slot] as usize];
            let key = m.g * 64 + slot as u64 * 2;
            let parents = [m.row, self.user_row(members[slot])];
            let rules = self.rules[Table::MessageReceipts];
            let ctx = |key, created_ms| RowCtx {
                key,
                created_ms,
                parents: &parents,
            };
            if let (Some(at), true) = (delivered_at, receipts_wanted) {
                receipt(
                    out,
                    plan.ids.receipt.id(at, key),
                    "DELIVERED",
                    at,
                    &m.id,
                    user_id,
                    rules,
                    &ctx(key, at),
                );
            }
            let Some(at) = read_at else { continue };
            if receipts_wanted {
                receipt(
                    out,
                    plan.ids.receipt.id(at, key + 1),
                    "READ",
                    at,
                    &m.id,
                    user_id,
                    rules,
                    &ctx(key + 1, at),
                );
            }
            if reads_wanted {
                let read_key = m.g * 32 + slot as u64;
                let b = out.buf(Table::MessageReads);
                let row_at = b.len() - 2; // the tuple begun: its field count
                id(b, &plan.ids.read.id(at, read_key));
                copy::timestamp_ms(b, at);
                id(b, user_id);
                id(b, &m.id);
                copy::timestamp_ms(b, at);
                copy::timestamp_ms(b, at);
                let rules = self.rules[Table::MessageReads];
                if !rules.is_empty() {
                    rules.encode_row(&ctx(read_key, at), row_at, b);
                }
                out.end_row(Table::MessageReads);
            }
        }
    }

    fn attachment<S: ChunkSink>(
        &self,
        r: &mut rand_pcg::Pcg64Mcg,
        key: u64,
        kind: AttachmentKind,
        m: &Msg,
        out: &mut Out<S>,
    ) {
        let (uploader, message, t) = (m.sender, &m.id, m.t);
        let MediaKind {
            label,
            kb_mu: mu,
            kb_sigma: sigma,
            kb_min: lo,
            kb_max: hi,
            prefix,
            exts,
        } = MEDIA[kind as usize];
        let (ext, mime) = exts[range(r, 0, exts.len() as u64 - 1) as usize];
        let bytes = match self
            .plan
            .fit
            .as_ref()
            .and_then(|f| f.size_bytes[kind.fit_index()].as_ref())
        {
            Some(t) => t.sample(r).clamp(1.0, i32::MAX as f64),
            None => lognormal(r, mu, sigma).clamp(lo, hi) * 1024.0,
        };
        let number = range(r, 1000, 9999);
        let aid = self.plan.ids.attachment.id(t, key);
        let b = out.buf(Table::Attachments);
        let row_at = b.len() - 2; // the tuple begun: its field count
        id(b, &aid);
        let filename = |b: &mut BytesMut| {
            b.put_slice(prefix.as_bytes());
            put_decimal(b, number);
            b.put_u8(b'.');
            b.put_slice(ext.as_bytes());
        };
        copy::text_with(b, filename);
        copy::text_with(b, |b| {
            b.put_slice(b"upload-");
            put_decimal(b, number);
            b.put_u8(b'.');
            b.put_slice(ext.as_bytes());
        });
        copy::text(b, mime);
        copy::int4(b, bytes as i32);
        copy::text_with(b, |b| {
            b.put_slice(b"https://cdn.example.com/a/");
            b.put_slice(&aid);
            b.put_u8(b'/');
            filename(b);
        });
        if matches!(kind, AttachmentKind::Image | AttachmentKind::Video) {
            copy::text_with(b, |b| {
                b.put_slice(b"https://cdn.example.com/t/");
                b.put_slice(&aid);
                b.put_slice(b".jpg");
            });
        } else {
            copy::null(b);
        }
        copy::text(b, label);
        const IMAGE_SIZES: [(i32, i32); 6] = [
            (1080, 1920),
            (1920, 1080),
            (3024, 4032),
            (4032, 3024),
            (1080, 1080),
            (800, 600),
        ];
        const VIDEO_SIZES: [(i32, i32); 4] = [(1280, 720), (1920, 1080), (720, 1280), (1080, 1920)];
        let dims = match kind {
            AttachmentKind::Image => Some(IMAGE_SIZES[range(r, 0, 5) as usize]),
            AttachmentKind::Video => Some(VIDEO_SIZES[range(r, 0, 3) as usize]),
            _ => None,
        };
        copy::opt_int4(b, dims.map(|d| d.0));
        copy::opt_int4(b, dims.map(|d| d.1));
        let duration = match kind {
            AttachmentKind::Video => Some(lognormal(r, 3.5, 1.0).clamp(1.0, 3_600.0) as i32),
            AttachmentKind::Audio => Some(lognormal(r, 3.0, 1.0).clamp(1.0, 3_600.0) as i32),
            _ => None,
        };
        copy::opt_int4(b, duration);
        id(b, uploader);
        id(b, message);
        copy::timestamp_ms(b, t);
        copy::timestamp_ms(b, t);
        let rules = self.rules[Table::Attachments];
        if !rules.is_empty() {
            let parents = [m.row, m.row.parents[1]];
            let ctx = RowCtx {
                key,
                created_ms: t,
                parents: &parents,
            };
            rules.encode_row(&ctx, row_at, b);
        }
        out.end_row(Table::Attachments);
    }
}

/// What kind of file an attachment is; indexes [`MEDIA`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttachmentKind {
    Image = 0,
    Video = 1,
    Audio = 2,
    Document = 3,
}

impl AttachmentKind {
    /// Index into `FIT_ATTACHMENT_KINDS`.
    fn fit_index(self) -> usize {
        match self {
            AttachmentKind::Image => 0,
            AttachmentKind::Video => 1,
            AttachmentKind::Audio => 2,
            AttachmentKind::Document => 3,
        }
    }

    /// The type of a message whose first attachment is of this kind.
    fn message_type(self) -> &'static str {
        match self {
            AttachmentKind::Image => "IMAGE",
            AttachmentKind::Video => "VIDEO",
            AttachmentKind::Audio => "AUDIO",
            AttachmentKind::Document => "FILE",
        }
    }
}

/// A message's attachments: the first `n` of `kinds`.
struct Attachments {
    kinds: [AttachmentKind; 5],
    n: usize,
    /// A fitted shape's type of a message without attachments.
    other: Option<&'static str>,
}

/// A fitted shape's message kind (`FIT_MESSAGE_KINDS`, by the measured mix)
/// and, for an attachment kind, its count (by the measured mix); a message's
/// attachments share its kind.
fn fitted_kinds(f: &FitTables, r: &mut rand_pcg::Pcg64Mcg) -> Attachments {
    let k = pick_cdf(r, &f.kind_cdf);
    let kind = match FIT_MESSAGE_KINDS[k] {
        "IMAGE" => AttachmentKind::Image,
        "VIDEO" => AttachmentKind::Video,
        "AUDIO" => AttachmentKind::Audio,
        "FILE" => AttachmentKind::Document,
        other => {
            return Attachments {
                kinds: [AttachmentKind::Image; 5],
                n: 0,
                other: Some(other),
            }
        }
    };
    let n = match pick_cdf(r, &f.count_cdf[kind as usize]) {
        3 => range(r, 4, 5) as usize,
        i => i + 1,
    };
    Attachments {
        kinds: [kind; 5],
        n,
        other: None,
    }
}

impl Attachments {
    fn iter(&self) -> std::slice::Iter<'_, AttachmentKind> {
        self.kinds[..self.n].iter()
    }
}

/// What the rows of one message share.
struct Msg<'p> {
    /// The message as the parent of its children's column rules.
    row: ParentRow<'p>,
    /// Global message index, and index within its conversation.
    g: u64,
    k: usize,
    /// Sent at (Unix ms).
    t: i64,
    id: [u8; ID_LEN],
    sender: &'p [u8; ID_LEN],
    conversation: &'p [u8; ID_LEN],
    group: bool,
    receipts: bool,
    attachments: Attachments,
    /// The send times of this conversation's messages (index = `k`), so a
    /// reply can compute its target's time-ordered id.
    times: &'p [i64],
}

/// A message's `metadata` JSONB: coordinates, a system event, an attachment
/// count, sometimes the client, or NULL.
fn metadata(b: &mut BytesMut, r: &mut rand_pcg::Pcg64Mcg, msg_type: &str, n_att: usize) {
    match msg_type {
        "LOCATION" => {
            let lat = uniform(r) * 140.0 - 70.0;
            let lng = uniform(r) * 360.0 - 180.0;
            copy::jsonb_with(b, |b| {
                b.put_slice(b"{\"lat\": ");
                put_coord(b, lat);
                b.put_slice(b", \"lng\": ");
                put_coord(b, lng);
                b.put_slice(b"}");
            });
        }
        "SYSTEM" => copy::jsonb_with(b, |b| b.put_slice(b"{\"event\": \"member_joined\"}")),
        _ if n_att > 0 => copy::jsonb_with(b, |b| {
            b.put_slice(b"{\"attachments\": ");
            put_decimal(b, n_att as u64);
            b.put_slice(b"}");
        }),
        _ if chance(r, 0.1) => {
            let client: &[u8] = [&b"ios"[..], b"android", b"web"][range(r, 0, 2) as usize];
            copy::jsonb_with(b, |b| {
                b.put_slice(b"{\"client\": \"");
                b.put_slice(client);
                b.put_slice(b"\"}");
            })
        }
        _ => copy::null(b),
    }
}

/// Attachment kinds (index = [`AttachmentKind`]): log-normal size in KB,
/// clamped (docs/data.md, "Shape"); file name prefix; extensions and mime types.
struct MediaKind {
    label: &'static str,
    kb_mu: f64,
    kb_sigma: f64,
    kb_min: f64,
    kb_max: f64,
    prefix: &'static str,
    exts: &'static [(&'static str, &'static str)],
}

const MEDIA: [MediaKind; 4] = [
    MediaKind {
        label: "IMAGE",
        kb_mu: 5.5,
        kb_sigma: 1.2,
        kb_min: 50.0,
        kb_max: 8_000.0,
        prefix: "IMG_",
        exts: &[
            ("jpg", "image/jpeg"),
            ("jpg", "image/jpeg"),
            ("png", "image/png"),
            ("webp", "image/webp"),
            ("gif", "image/gif"),
        ],
    },
    MediaKind {
        label: "VIDEO",
        kb_mu: 8.0,
        kb_sigma: 1.5,
        kb_min: 500.0,
        kb_max: 50_000.0,
        prefix: "VID_",
        exts: &[
            ("mp4", "video/mp4"),
            ("mp4", "video/mp4"),
            ("mov", "video/quicktime"),
        ],
    },
    MediaKind {
        label: "AUDIO",
        kb_mu: 6.0,
        kb_sigma: 1.3,
        kb_min: 50.0,
        kb_max: 10_000.0,
        prefix: "AUD_",
        exts: &[
            ("m4a", "audio/mp4"),
            ("mp3", "audio/mpeg"),
            ("ogg", "audio/ogg"),
        ],
    },
    MediaKind {
        label: "DOCUMENT",
        kb_mu: 5.0,
        kb_sigma: 1.0,
        kb_min: 10.0,
        kb_max: 5_000.0,
        prefix: "DOC_",
        exts: &[
            ("pdf", "application/pdf"),
            ("pdf", "application/pdf"),
            (
                "docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            ),
            (
                "xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
            ("txt", "text/plain"),
        ],
    },
];

#[allow(clippy::too_many_arguments)]
fn receipt<S: ChunkSink>(
    out: &mut Out<S>,
    rid: [u8; ID_LEN],
    state: &str,
    at: i64,
    msg: &[u8; ID_LEN],
    user: &[u8; ID_LEN],
    rules: &TableRules,
    ctx: &RowCtx,
) {
    let b = out.buf(Table::MessageReceipts);
    let row_at = b.len() - 2; // the tuple begun: its field count
    id(b, &rid);
    copy::text(b, state);
    copy::timestamp_ms(b, at);
    id(b, msg);
    id(b, user);
    copy::timestamp_ms(b, at);
    copy::timestamp_ms(b, at);
    if !rules.is_empty() {
        rules.encode_row(ctx, row_at, b);
    }
    out.end_row(Table::MessageReceipts);
}

/// A coordinate with 5 decimals, without allocating.
fn put_coord(b: &mut BytesMut, v: f64) {
    if v < 0.0 {
        b.put_u8(b'-');
    }
    let scaled = (v.abs() * 100_000.0).round() as u64;
    put_decimal(b, scaled / 100_000);
    b.put_u8(b'.');
    let frac = scaled % 100_000;
    let mut digits = [b'0'; 5];
    let mut f = frac;
    for d in digits.iter_mut().rev() {
        *d = b'0' + (f % 10) as u8;
        f /= 10;
    }
    b.put_slice(&digits);
}

fn base36_width(mut max: u64) -> usize {
    let mut w = 1;
    while max >= 36 {
        max /= 36;
        w += 1;
    }
    w.max(2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Band;

    struct Collect(Vec<(Table, BytesMut, u64)>);
    impl ChunkSink for Collect {
        fn send(&mut self, t: Table, c: BytesMut, rows: u64) -> bool {
            self.0.push((t, c, rows));
            true
        }
    }

    fn rows_of(sink: &Collect, t: Table) -> u64 {
        sink.0.iter().filter(|c| c.0 == t).map(|c| c.2).sum()
    }

    #[test]
    fn units_produce_exact_counts_and_identical_bytes() {
        let cfg = Band::Tiny.preset();
        let plan = Plan::build(&cfg);
        let pools = Pools::new(cfg.seed);
        let g = Gen::new(&plan, &pools);
        let run = || {
            let mut sink = Collect(Vec::new());
            let mut out = Out::new(&mut sink, 64 * 1024, &Table::ALL);
            let mut scratch = Scratch::default();
            for u in &plan.user_units {
                g.users(u.clone(), &mut out);
            }
            for u in &plan.conversation_units {
                g.conversations(u.clone(), &mut out, &mut scratch);
            }
            for u in &plan.message_units {
                g.messages(u.clone(), &mut out, &mut scratch);
            }
            out.flush();
            sink
        };
        let a = run();
        assert_eq!(rows_of(&a, Table::Users), 200);
        assert_eq!(rows_of(&a, Table::Conversations), 300);
        assert_eq!(rows_of(&a, Table::Messages), 10_000);
        assert_eq!(
            rows_of(&a, Table::ConversationUsers),
            plan.members.len() as u64
        );
        assert!(rows_of(&a, Table::MessageReads) > 0);
        let b = run();
        let chunks = |s: &Collect| {
            s.0.iter()
                .map(|c| (c.0, c.1.clone(), c.2))
                .collect::<Vec<_>>()
        };
        assert_eq!(chunks(&a), chunks(&b));
    }

    #[test]
    fn coordinates_and_widths() {
        let mut b = BytesMut::new();
        put_coord(&mut b, -12.3456789);
        assert_eq!(&b[..], b"-12.34568");
        assert_eq!(base36_width(199), 2);
        assert_eq!(base36_width(249_999), 4);
    }
}
