//! The plan: everything decided before any row is generated. Exact row counts,
//! each conversation's class, size, members, creation time and message count
//! (a power law apportioned to hit the band's exact total), and the work units
//! that generator tasks claim. Built once, O(conversations + memberships), and
//! shared read-only by all workers.

use std::ops::Range;

use rand::seq::SliceRandom;

use super::dist::{
    power_law_int, power_law_quantile, range, truncated_geometric, uniform, InverseCdf, Zipf,
};
use super::ids::{kind, IdGen, ID_LEN};
use super::rng::{mix64, stream, tag};
use super::time::Density;
use crate::config::{DatasetConfig, RealisedTargets};

/// Conversation size classes (docs/data.md, "Shape").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Class {
    Direct = 0,
    SmallGroup = 1,
    LargeGroup = 2,
}

/// Prisma's `ConversationType` labels.
pub const CONVERSATION_TYPES: [&str; 3] = ["DIRECT_MESSAGE", "GROUP_CHAT", "CHANNEL"];

/// Target size of a work unit, in messages (a heavy room is one unit).
const MESSAGE_UNIT: u64 = 16_384;
const USER_UNIT: u64 = 4_096;
const CONVERSATION_UNIT: u64 = 2_048;

/// Every table's id generator under one seed.
#[derive(Clone, Copy)]
pub struct Ids {
    pub user: IdGen,
    pub conversation: IdGen,
    pub membership: IdGen,
    pub message: IdGen,
    pub attachment: IdGen,
    pub read: IdGen,
    pub receipt: IdGen,
}

/// Message kinds of a fitted shape, in the order of `FitTables::kind_cdf`.
pub const FIT_MESSAGE_KINDS: [&str; 7] = [
    "TEXT", "SYSTEM", "LOCATION", "IMAGE", "VIDEO", "AUDIO", "FILE",
];
/// Attachment types of a fitted shape, in the order of `FitTables::size_bytes`.
pub const FIT_ATTACHMENT_KINDS: [&str; 4] = ["IMAGE", "VIDEO", "AUDIO", "DOCUMENT"];

/// The fitted curves of `shape.fitted` as lookup tables, built once per plan
/// so a row's draw is a table lookup.
pub struct FitTables {
    pub text_len: InverseCdf,
    /// `None` keeps the preset's read-delay mixture.
    pub read_delay_ms: Option<InverseCdf>,
    /// Per `FIT_ATTACHMENT_KINDS`; `None` keeps the preset's size law.
    pub size_bytes: [Option<InverseCdf>; 4],
    /// Cumulative shares of `FIT_MESSAGE_KINDS`.
    pub kind_cdf: [f64; 7],
    /// Cumulative shares of 1, 2, 3 and 4+ attachments on a message with any,
    /// per `FIT_ATTACHMENT_KINDS` (the message's type).
    pub count_cdf: [[f64; 4]; 4],
    pub reply_share: f64,
    /// Chance that a reply also starts or joins a thread (`threadId`).
    pub thread_given_reply: f64,
    /// Edit chance of a message that is not deleted.
    pub edit_given_kept: f64,
}

impl FitTables {
    fn new(cfg: &DatasetConfig) -> Option<FitTables> {
        let f = cfg.shape.fitted.as_ref()?;
        let mut kind_cdf = [0.0; 7];
        let mut acc = 0.0;
        for (i, k) in FIT_MESSAGE_KINDS.iter().enumerate() {
            acc += f.message_types.get(*k).copied().unwrap_or(0.0);
            kind_cdf[i] = acc;
        }
        let count_cdf = FIT_ATTACHMENT_KINDS.map(|k| {
            let message_kind = if k == "DOCUMENT" { "FILE" } else { k };
            let shares = f
                .attachments_when_any_per_type
                .get(message_kind)
                .unwrap_or(&f.attachments_when_any);
            let mut cdf = [0.0; 4];
            let mut acc = 0.0;
            for (i, x) in shares.iter().enumerate() {
                acc += x;
                cdf[i] = acc;
            }
            cdf
        });
        let ms = f.read_delay_seconds.as_ref().map(|c| crate::config::Curve {
            points: c.points.iter().map(|q| [q[0], q[1] * 1000.0]).collect(),
        });
        let s = &cfg.shape;
        Some(FitTables {
            text_len: InverseCdf::new(&f.text_length),
            read_delay_ms: ms.as_ref().map(InverseCdf::new),
            size_bytes: FIT_ATTACHMENT_KINDS
                .map(|k| f.attachment_size_bytes.get(k).map(InverseCdf::new)),
            kind_cdf,
            count_cdf,
            reply_share: f.reply_share,
            thread_given_reply: if f.reply_share > 0.0 {
                (f.thread_share / f.reply_share).min(1.0)
            } else {
                0.0
            },
            edit_given_kept: (s.edited_share / (1.0 - s.deleted_share).max(1e-9)).min(1.0),
        })
    }
}

pub struct Plan {
    pub cfg: DatasetConfig,
    /// The fitted shape's tables (`load --profile`), or `None` for a preset.
    pub fit: Option<FitTables>,
    pub density: Density,
    pub ids: Ids,
    /// Sender weight per user (Zipf-like activity; index = user).
    pub sender_weight: Vec<f32>,
    pub class: Vec<Class>,
    /// Index into `CONVERSATION_TYPES`.
    pub conv_type: Vec<u8>,
    pub conv_created_ms: Vec<i64>,
    /// Milliseconds between consecutive member joins, per conversation.
    pub join_step_ms: Vec<u32>,
    /// members[member_off[c]..member_off[c+1]]: user indices, slot 0 = creator.
    pub member_off: Vec<u64>,
    pub members: Vec<u32>,
    /// Messages of conversation c have global indices msg_off[c]..msg_off[c+1].
    pub msg_off: Vec<u64>,
    pub user_ids: Vec<[u8; ID_LEN]>,
    pub conv_ids: Vec<[u8; ID_LEN]>,
    pub realised: RealisedTargets,
    pub user_units: Vec<Range<u64>>,
    pub conversation_units: Vec<Range<u64>>,
    pub message_units: Vec<Range<u64>>,
    /// The child tables declared in the config, in name order.
    pub children: Vec<super::children::Child>,
    /// The config's column rules, compiled (empty without rules).
    pub rules: crate::rules::Rules,
}

impl Plan {
    pub fn build(cfg: &DatasetConfig) -> Plan {
        let seed = cfg.seed;
        let shape = &cfg.shape;
        let n_users = cfg.counts.users as usize;
        let n_conv = cfg.counts.conversations as usize;
        let window = cfg.window;
        let density = Density::new(&window, shape);
        let ids = Ids {
            user: IdGen::new(seed, kind::USER),
            conversation: IdGen::new(seed, kind::CONVERSATION),
            membership: IdGen::new(seed, kind::MEMBERSHIP),
            message: IdGen::new(seed, kind::MESSAGE),
            attachment: IdGen::new(seed, kind::ATTACHMENT),
            read: IdGen::new(seed, kind::READ),
            receipt: IdGen::new(seed, kind::RECEIPT),
        };

        let mut r = stream(seed, tag::PLAN, 0);
        // Classes by exact shares (largest remainder), then shuffled.
        let n_direct = (n_conv as f64 * shape.direct_share).round() as usize;
        let n_large = ((n_conv as f64 * shape.large_group_share).round() as usize)
            .min(n_conv - n_direct.min(n_conv));
        let n_direct = n_direct.min(n_conv);
        let mut class: Vec<Class> = (0..n_conv)
            .map(|i| {
                if i < n_direct {
                    Class::Direct
                } else if i < n_direct + n_large {
                    Class::LargeGroup
                } else {
                    Class::SmallGroup
                }
            })
            .collect();
        class.shuffle(&mut r);
        // A fitted shape: conversation types by their exact shares, shuffled;
        // classes then follow from each room's member count.
        let fitted = shape.fitted.as_ref();
        let fitted_kinds: Vec<(u8, InverseCdf)> = fitted
            .map(|f| {
                f.conversation_types
                    .iter()
                    .map(|t| {
                        let ty = CONVERSATION_TYPES
                            .iter()
                            .position(|k| *k == t.kind)
                            .unwrap_or(1) as u8;
                        (ty, InverseCdf::new(&t.members))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let fitted_kind_of: Vec<u8> = match fitted {
            Some(f) => {
                let mut v = Vec::with_capacity(n_conv);
                let mut acc = 0.0;
                for (i, t) in f.conversation_types.iter().enumerate() {
                    acc += t.share;
                    let upto = ((acc * n_conv as f64).round() as usize).min(n_conv);
                    v.resize(upto.max(v.len()), i as u8);
                }
                v.resize(n_conv, (f.conversation_types.len() - 1) as u8);
                v.shuffle(&mut r);
                v
            }
            None => Vec::new(),
        };

        let member_zipf = Zipf::new(n_users, shape.user_zipf_s);
        let sender_weight: Vec<f32> = (0..n_users)
            .map(|u| ((u + 1) as f64).powf(-0.25 * shape.user_zipf_s) as f32)
            .collect();

        // Members: distinct users per conversation, chosen Zipf-like.
        let mut member_off = Vec::with_capacity(n_conv + 1);
        let mut members: Vec<u32> = Vec::with_capacity(n_conv * 5);
        let mut conv_type = Vec::with_capacity(n_conv);
        let mut taken = vec![u32::MAX; n_users];
        member_off.push(0u64);
        let mut class_fit = Vec::with_capacity(if fitted.is_some() { n_conv } else { 0 });
        for (c, cl) in class.iter().enumerate() {
            let mut mr = stream(seed, tag::MEMBERS, c as u64);
            if fitted.is_some() {
                let (ty, curve) = &fitted_kinds[fitted_kind_of[c] as usize];
                let size = (curve.sample(&mut mr).round() as u64).max(2);
                class_fit.push(if *ty == 0 {
                    Class::Direct
                } else if size <= 20 {
                    Class::SmallGroup
                } else {
                    Class::LargeGroup
                });
                conv_type.push(*ty);
                fill_members(
                    &mut mr,
                    &member_zipf,
                    &mut taken,
                    &mut members,
                    c,
                    size.min(n_users as u64) as usize,
                    n_users,
                );
                member_off.push(members.len() as u64);
                continue;
            }
            let size = match cl {
                Class::Direct => 2,
                Class::SmallGroup => {
                    truncated_geometric(&mut mr, shape.small_group_geometric_p, 3, 20)
                }
                Class::LargeGroup => power_law_int(&mut mr, shape.large_group_alpha, 21, 256),
            }
            .min(n_users as u64) as usize;
            conv_type.push(match cl {
                Class::Direct => 0,
                Class::SmallGroup => 1,
                Class::LargeGroup => {
                    if uniform(&mut mr) < shape.large_group_channel_share {
                        2
                    } else {
                        1
                    }
                }
            });
            fill_members(
                &mut mr,
                &member_zipf,
                &mut taken,
                &mut members,
                c,
                size,
                n_users,
            );
            member_off.push(members.len() as u64);
        }
        if fitted.is_some() {
            class = class_fit;
        }

        // Creation times: users in the first 5% of the window, conversations in
        // 5%..60%, earlier ones more likely, so every member exists first.
        let start = window.start_ms();
        let len = window.len_ms() as f64;
        let conv_created_ms: Vec<i64> = (0..n_conv)
            .map(|c| {
                let u = uniform(&mut stream(seed, tag::CONVERSATION, c as u64 ^ (1 << 63)));
                start + (0.05 * len) as i64 + (u.powf(1.4) * 0.55 * len) as i64
            })
            .collect();
        let join_step_ms: Vec<u32> = (0..n_conv)
            .map(|c| 1_000 + (mix64(seed ^ mix64(c as u64 ^ 0x101)) % 89_000) as u32)
            .collect();

        let counts = message_counts(cfg, &class, &mut r);
        let mut msg_off = Vec::with_capacity(n_conv + 1);
        let mut acc = 0u64;
        msg_off.push(0);
        for &n in &counts {
            acc += n;
            msg_off.push(acc);
        }
        debug_assert_eq!(acc, cfg.counts.messages);

        let realised = realised_from(cfg, &counts, members.len() as u64);
        let user_ids = (0..n_users as u64)
            .map(|u| ids.user.id(user_created_ms(cfg, u), u))
            .collect();
        let conv_ids = (0..n_conv as u64)
            .map(|c| ids.conversation.id(conv_created_ms[c as usize], c))
            .collect();

        let user_units = fixed_units(n_users as u64, USER_UNIT);
        let conversation_units = fixed_units(n_conv as u64, CONVERSATION_UNIT);
        let mut message_units = Vec::new();
        let mut begin = 0u64;
        for c in 0..n_conv as u64 {
            if msg_off[c as usize + 1] - msg_off[begin as usize] >= MESSAGE_UNIT {
                message_units.push(begin..c + 1);
                begin = c + 1;
            }
        }
        if begin < n_conv as u64 {
            message_units.push(begin..n_conv as u64);
        }

        let rules = cfg
            .compile_rules()
            .expect("column rules are checked by DatasetConfig::validate");
        Plan {
            cfg: cfg.clone(),
            fit: FitTables::new(cfg),
            density,
            ids,
            sender_weight,
            class,
            conv_type,
            conv_created_ms,
            join_step_ms,
            member_off,
            members,
            msg_off,
            user_ids,
            conv_ids,
            realised,
            user_units,
            conversation_units,
            message_units,
            children: cfg
                .tables
                .iter()
                .map(|(name, t)| super::children::Child::new(cfg.seed, name, t, &rules))
                .collect(),
            rules,
        }
    }

    #[inline]
    pub fn members_of(&self, c: usize) -> &[u32] {
        &self.members[self.member_off[c] as usize..self.member_off[c + 1] as usize]
    }

    #[inline]
    pub fn message_count(&self, c: usize) -> u64 {
        self.msg_off[c + 1] - self.msg_off[c]
    }

    /// When member `slot` joined conversation `c`.
    #[inline]
    pub fn joined_at(&self, c: usize, slot: usize) -> i64 {
        self.conv_created_ms[c] + slot as i64 * self.join_step_ms[c] as i64
    }

    /// Earliest time a message may have: one second after the last join.
    #[inline]
    pub fn first_message_floor(&self, c: usize) -> i64 {
        let n = self.members_of(c).len();
        self.joined_at(c, n.saturating_sub(1)) + 1_000
    }

    /// A user's creation time (first 5% of the window).
    #[inline]
    pub fn user_created_ms(&self, u: u64) -> i64 {
        user_created_ms(&self.cfg, u)
    }

    pub fn total_messages(&self) -> u64 {
        *self.msg_off.last().unwrap()
    }
}

/// User `u`'s creation time (first 5% of the window); its id starts with it.
fn user_created_ms(cfg: &DatasetConfig, u: u64) -> i64 {
    let w = cfg.window;
    let span = (w.len_ms() as f64 * 0.05) as u64;
    w.start_ms() + (mix64(cfg.seed ^ mix64(u ^ 0x0c0ffee)) % span.max(1)) as i64
}

/// Appends `size` distinct users, chosen Zipf-like, as conversation `c`'s members.
#[allow(clippy::too_many_arguments)]
fn fill_members(
    mr: &mut rand_pcg::Pcg64Mcg,
    zipf: &Zipf,
    taken: &mut [u32],
    members: &mut Vec<u32>,
    c: usize,
    size: usize,
    n_users: usize,
) {
    let start = members.len();
    let mut attempts = 0;
    while members.len() - start < size && attempts < size * 20 {
        attempts += 1;
        let u = zipf.sample(mr);
        if taken[u] != c as u32 {
            taken[u] = c as u32;
            members.push(u as u32);
        }
    }
    // Rare: a large room in a small user base. Fill from a random start.
    let mut u = range(mr, 0, n_users as u64 - 1) as usize;
    while members.len() - start < size {
        if taken[u] != c as u32 {
            taken[u] = c as u32;
            members.push(u as u32);
        }
        u = (u + 1) % n_users;
    }
}

fn fixed_units(n: u64, size: u64) -> Vec<Range<u64>> {
    (0..n.div_ceil(size))
        .map(|i| i * size..((i + 1) * size).min(n))
        .collect()
}

/// The top-`q` share of a continuous power law (density ~ x^-alpha) on [1, h].
fn top_share(alpha: f64, h: f64, q: f64) -> f64 {
    let xq = power_law_quantile(1.0 - q, alpha, 1.0, h);
    let e = 2.0 - alpha;
    if e.abs() < 1e-9 {
        (h.ln() - xq.ln()) / h.ln()
    } else {
        (h.powf(e) - xq.powf(e)) / (h.powf(e) - 1.0)
    }
}

/// Messages per conversation: power-law quantiles (alpha from the shape) whose
/// range is chosen so the heaviest `heavy_room_fraction` of rooms carry
/// `heavy_room_message_share` of messages, assigned to rooms in a shuffled
/// order (groups lean heavier), scaled and apportioned to the exact total with
/// a floor of 1 and the per-room maximum.
fn message_counts(cfg: &DatasetConfig, class: &[Class], r: &mut rand_pcg::Pcg64Mcg) -> Vec<u64> {
    let s = &cfg.shape;
    let n = class.len();
    let total = cfg.counts.messages;
    let max = s.messages_max_per_conversation;
    let w = match &s.fitted {
        // Rooms in a random order take the measured quantile curve.
        Some(f) => {
            let curve = InverseCdf::new(&f.messages_per_conversation);
            let mut keys: Vec<(f64, usize)> = (0..n).map(|i| (uniform(r), i)).collect();
            keys.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut w = vec![0.0f64; n];
            for (rank, &(_, i)) in keys.iter().enumerate() {
                w[i] = curve.at((rank as f64 + 0.5) / n as f64);
            }
            w
        }
        None => power_law_weights(cfg, class, r),
    };
    apportion(&w, total, max)
}

/// Power-law weights per room (the preset's messages per conversation).
fn power_law_weights(cfg: &DatasetConfig, class: &[Class], r: &mut rand_pcg::Pcg64Mcg) -> Vec<f64> {
    let s = &cfg.shape;
    let n = class.len();
    // Find the range h of the law that gives the heavy-room share.
    let (mut lo, mut hi) = (1.0001f64.ln(), 1e9f64.ln());
    for _ in 0..64 {
        let mid = 0.5 * (lo + hi);
        if top_share(s.messages_alpha, mid.exp(), s.heavy_room_fraction)
            < s.heavy_room_message_share
        {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let h = hi.exp();
    // Rank order: shuffled, groups biased towards the heavy end.
    let mut keys: Vec<(f64, usize)> = class
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let bias = match c {
                Class::Direct => 0.0,
                Class::SmallGroup => 0.25,
                Class::LargeGroup => 0.5,
            };
            (uniform(r) + bias, i)
        })
        .collect();
    keys.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut w = vec![0.0f64; n];
    for (rank, &(_, i)) in keys.iter().enumerate() {
        w[i] = power_law_quantile((rank as f64 + 0.5) / n as f64, s.messages_alpha, 1.0, h);
    }
    w
}

/// Room weights scaled and apportioned to exactly `total` messages, at least
/// 1 and at most `max` a room.
fn apportion(w: &[f64], total: u64, max: u64) -> Vec<u64> {
    let n = w.len();
    // `as u64` truncates, which is floor for the non-negative values here.
    let clamp = |x: f64| (x as u64).clamp(1, max);
    let sum_at = |scale: f64| -> u64 { w.iter().map(|&x| clamp(x * scale)).sum() };
    let (mut slo, mut shi) = (0.0f64, total as f64);
    // 64 halvings take the bracket below f64 resolution.
    for _ in 0..64 {
        let mid = 0.5 * (slo + shi);
        if sum_at(mid) <= total {
            slo = mid;
        } else {
            shi = mid;
        }
    }
    let mut counts: Vec<u64> = w.iter().map(|&x| clamp(x * slo)).collect();
    let mut residual = total - counts.iter().sum::<u64>();
    // Largest fractional parts first; repeat while rooms can take more.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let fa = (w[a] * slo).fract();
        let fb = (w[b] * slo).fract();
        fb.total_cmp(&fa).then(a.cmp(&b))
    });
    while residual > 0 {
        let before = residual;
        for &i in &order {
            if residual == 0 {
                break;
            }
            if counts[i] < max {
                counts[i] += 1;
                residual -= 1;
            }
        }
        assert!(
            residual < before,
            "validated config guarantees room for all messages"
        );
    }
    counts
}

fn realised_from(cfg: &DatasetConfig, counts: &[u64], memberships: u64) -> RealisedTargets {
    let mut sorted = counts.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let q = |p: f64| -> f64 {
        // Same definition as PostgreSQL's percentile_cont.
        let x = p * (n - 1) as f64;
        let (i, f) = (x.floor() as usize, x.fract());
        let a = sorted[i] as f64;
        let b = sorted[(i + 1).min(n - 1)] as f64;
        a + f * (b - a)
    };
    let heavy = ((n as f64 * cfg.shape.heavy_room_fraction).ceil() as usize).max(1);
    let heavy_sum: u64 = sorted[n - heavy..].iter().sum();
    RealisedTargets {
        messages_per_conversation_median: q(0.5),
        messages_per_conversation_p95: q(0.95),
        messages_per_conversation_max: sorted[n - 1],
        share_conversations_under_50_messages: sorted.iter().filter(|&&c| c < 50).count() as f64
            / n as f64,
        share_conversations_over_1000_messages: sorted.iter().filter(|&&c| c > 1000).count() as f64
            / n as f64,
        heavy_room_message_share: heavy_sum as f64 / cfg.counts.messages as f64,
        conversation_users_rows: memberships,
    }
}

/// The realised scale-dependent targets of a configuration (what `validate`
/// checks when no load report is given).
pub fn realised_targets(cfg: &DatasetConfig) -> RealisedTargets {
    Plan::build(cfg).realised
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Band;

    #[test]
    fn exact_totals_and_heavy_rooms_for_every_small_band() {
        for band in [Band::Tiny, Band::Dev] {
            let cfg = band.preset();
            let p = Plan::build(&cfg);
            assert_eq!(p.total_messages(), cfg.counts.messages);
            assert_eq!(p.class.len() as u64, cfg.counts.conversations);
            assert!((0..p.class.len()).all(|c| p.message_count(c) >= 1));
            let r = &p.realised;
            assert!(
                (r.heavy_room_message_share - 0.30).abs() < 0.05,
                "{band:?}: {}",
                r.heavy_room_message_share
            );
            // Units cover every conversation exactly once.
            let covered: u64 = p.message_units.iter().map(|u| u.end - u.start).sum();
            assert_eq!(covered, cfg.counts.conversations);
        }
    }

    #[test]
    fn classes_sizes_and_members() {
        let cfg = Band::Dev.preset();
        let p = Plan::build(&cfg);
        let n = p.class.len() as f64;
        let direct = p.class.iter().filter(|&&c| c == Class::Direct).count() as f64 / n;
        assert!((direct - 0.70).abs() < 0.001);
        for c in 0..p.class.len() {
            let m = p.members_of(c);
            let mut s = m.to_vec();
            s.sort_unstable();
            s.dedup();
            assert_eq!(s.len(), m.len(), "distinct members");
            match p.class[c] {
                Class::Direct => assert_eq!(m.len(), 2),
                Class::SmallGroup => assert!((3..=20).contains(&m.len())),
                Class::LargeGroup => assert!((21..=256).contains(&m.len())),
            }
        }
    }

    #[test]
    fn tiny_user_base_fills_large_rooms() {
        let mut cfg = Band::Tiny.preset();
        cfg.counts.users = 30;
        let p = Plan::build(&cfg);
        for c in 0..p.class.len() {
            assert!(p.members_of(c).len() <= 30);
        }
    }

    /// A fitted shape: 40% groups of 5..9, 60% direct; messages per room
    /// uniform on 10..=90 (mean 50).
    fn fitted_config() -> DatasetConfig {
        use crate::config::{Curve, Fitted, FittedConversationType};
        let line = |a: f64, b: f64| Curve {
            points: vec![[0.0, a], [1.0, b]],
        };
        let mut cfg = Band::Tiny.preset();
        cfg.counts.messages = 300 * 50;
        cfg.shape.fitted = Some(Fitted {
            source: "test".into(),
            messages_per_conversation: line(10.0, 90.0),
            conversation_types: vec![
                FittedConversationType {
                    kind: "DIRECT_MESSAGE".into(),
                    share: 0.6,
                    members: line(2.0, 2.0),
                },
                FittedConversationType {
                    kind: "GROUP_CHAT".into(),
                    share: 0.4,
                    members: line(4.5, 9.49),
                },
            ],
            text_length: line(5.0, 50.0),
            hour_by_weekday: (0..7)
                .map(|_| (0..24).map(|h| if h < 4 { 1.0 } else { 0.0 }).collect())
                .collect(),
            message_types: [("TEXT".to_string(), 0.7), ("IMAGE".to_string(), 0.3)]
                .into_iter()
                .collect(),
            attachments_when_any: [1.0, 0.0, 0.0, 0.0],
            attachments_when_any_per_type: Default::default(),
            attachment_size_bytes: Default::default(),
            reply_share: 0.1,
            thread_share: 0.0,
            read_delay_seconds: Some(line(1.0, 100.0)),
        });
        cfg.validate().unwrap();
        cfg
    }

    #[test]
    fn a_fitted_plan_takes_the_curves_and_exact_type_shares() {
        let cfg = fitted_config();
        let p = Plan::build(&cfg);
        assert_eq!(p.total_messages(), cfg.counts.messages);
        let n = p.class.len();
        let direct = p.conv_type.iter().filter(|&&t| t == 0).count();
        assert_eq!(direct, 180, "60% of 300 rooms, exactly");
        for c in 0..n {
            let m = p.members_of(c).len();
            if p.conv_type[c] == 0 {
                assert_eq!((m, p.class[c]), (2, Class::Direct));
            } else {
                assert!((5..=9).contains(&m), "{m}");
                assert_eq!(p.class[c], Class::SmallGroup);
            }
            // Uniform 10..90 apportioned to the same mean: no room outside.
            assert!(
                (9..=92).contains(&p.message_count(c)),
                "{}",
                p.message_count(c)
            );
        }
        let mut counts: Vec<u64> = (0..n).map(|c| p.message_count(c)).collect();
        counts.sort_unstable();
        let median = counts[n / 2] as f64;
        assert!((median - 50.0).abs() <= 3.0, "{median}");
        // Every message falls in the four fitted night hours.
        let mut r = crate::gen::rng::stream(1, 2, 3);
        let (a, b) = (cfg.window.start_ms(), cfg.window.end_ms);
        for _ in 0..10_000 {
            let t = p.density.sample(&mut r, a, b);
            assert!(crate::util::calendar::hour_of_day(t) < 4);
        }
        let preset = Plan::build(&Band::Tiny.preset());
        assert!(preset.fit.is_none() && p.fit.is_some());
    }

    #[test]
    fn plan_is_deterministic() {
        let cfg = Band::Tiny.preset();
        let (a, b) = (Plan::build(&cfg), Plan::build(&cfg));
        assert_eq!(a.msg_off, b.msg_off);
        assert_eq!(a.members, b.members);
        let mut other = cfg.clone();
        other.seed = 7;
        assert_ne!(Plan::build(&other).members, a.members);
    }
}
