//! Fitting the generator to a profile (`load --profile shape.json --scale F`):
//! the measured quantile tables, mixes and histograms become the `shape.fitted`
//! curves of a `DatasetConfig`, and the measured shares replace the preset's.
//! What is taken as measured and what stays preset: docs/profile.md, "The fit".
//! Pure: no database, no generator.

use std::collections::BTreeMap;

use super::format::{level_of, Profile, Quantiles};
use crate::config::{Curve, DatasetConfig, Fitted, FittedConversationType};
use crate::error::{Error, Result};

/// Conversation types the generator knows.
const CONVERSATION_KINDS: [&str; 3] = ["DIRECT_MESSAGE", "GROUP_CHAT", "CHANNEL"];
/// Message types the generator knows; any other measured type is generated as TEXT.
const MESSAGE_KINDS: [&str; 7] = [
    "TEXT", "SYSTEM", "LOCATION", "IMAGE", "VIDEO", "AUDIO", "FILE",
];
/// Points inserted between the last kept quantile and the rounded maximum
/// (geometric steps: a heavy tail is not a straight line).
const TAIL_POINTS: usize = 8;

fn bad(what: impl Into<String>) -> Error {
    Error::Config(format!(
        "cannot fit the generator to the profile: {}",
        what.into()
    ))
}

/// The curve of a quantile table: its levels, a point at probability 0 (the
/// lowest value, or `floor`), and a tail to the rounded maximum. `None` when
/// the table is empty (suppressed).
pub fn curve(q: &Quantiles, floor: Option<f64>) -> Option<Curve> {
    let mut pts: Vec<[f64; 2]> =
        q.at.iter()
            .filter_map(|(k, v)| level_of(k).map(|p| [p, *v]))
            .collect();
    if pts.is_empty() {
        return None;
    }
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]));
    // Quantiles of one table are non-decreasing; enforce it against rounding.
    for i in 1..pts.len() {
        pts[i][1] = pts[i][1].max(pts[i - 1][1]);
    }
    let low = floor.map_or(pts[0][1], |f| f.min(pts[0][1]));
    let mut out = vec![[0.0, low]];
    out.extend(pts.iter().copied());
    let (p_last, v_last) = (pts[pts.len() - 1][0], pts[pts.len() - 1][1]);
    let top = q.max_rounded.unwrap_or(v_last).max(v_last);
    if top > v_last && v_last > 0.0 {
        let ratio = top / v_last;
        for i in 1..TAIL_POINTS {
            let f = i as f64 / TAIL_POINTS as f64;
            out.push([p_last + f * (1.0 - p_last), v_last * ratio.powf(f)]);
        }
    }
    out.push([1.0, top]);
    Some(Curve { points: out })
}

fn normalised(m: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let total: f64 = m.values().sum();
    m.iter()
        .map(|(k, v)| (k.clone(), if total > 0.0 { v / total } else { 0.0 }))
        .collect()
}

/// The Zipf exponent over `n` ranks whose top `fraction` holds `share` of the mass.
fn zipf_exponent(n: u64, fraction: f64, share: f64) -> f64 {
    let n = n.clamp(2, 1 << 22) as usize;
    let top = ((n as f64 * fraction).ceil() as usize).clamp(1, n);
    let share_at = |s: f64| {
        let (mut head, mut all) = (0.0, 0.0);
        for i in 0..n {
            let w = ((i + 1) as f64).powf(-s);
            all += w;
            if i < top {
                head += w;
            }
        }
        head / all
    };
    let (mut lo, mut hi) = (0.0f64, 4.0f64);
    for _ in 0..40 {
        let mid = 0.5 * (lo + hi);
        if share_at(mid) < share {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Attachment counts per attachment-bearing message type. The generator gives
/// a message's attachments its own type, so the attachment type mix is the
/// message type mix weighted by each type's mean number of attachments; the
/// profile measures both mixes and the overall mean, which fix each type's
/// mean (attachments of the type / messages of the type). Each type keeps the
/// measured shape of 2, 3 and 4+ among its several-attachment messages and
/// takes the share of single attachments that gives its mean; when the
/// measured figures are consistent, the types together reproduce
/// `attachments.per_message` as well. Empty when the profile lacks what it
/// needs (no mean, no attachment types, or no message with several).
fn per_type_counts(
    p: &Profile,
    message_types: &BTreeMap<String, f64>,
    when_any: [f64; 4],
) -> BTreeMap<String, [f64; 4]> {
    let mut out = BTreeMap::new();
    let Some(mean) = p.attachments.mean_per_message else {
        return out;
    };
    let pairs = [
        ("IMAGE", "IMAGE"),
        ("VIDEO", "VIDEO"),
        ("AUDIO", "AUDIO"),
        ("FILE", "DOCUMENT"),
    ];
    let at = &p.attachments.types.shares;
    let at_total: f64 = pairs
        .iter()
        .map(|(_, a)| at.get(*a).copied().unwrap_or(0.0))
        .sum();
    let several = when_any[1] + when_any[2] + when_any[3];
    if at_total <= 0.0 || several <= 0.0 || mean <= 0.0 {
        return out;
    }
    // The generator draws 4 or 5 for "4+".
    let mean_several = (2.0 * when_any[1] + 3.0 * when_any[2] + 4.5 * when_any[3]) / several;
    for (message_kind, attachment_kind) in pairs {
        let m = message_types.get(message_kind).copied().unwrap_or(0.0);
        let a = at.get(attachment_kind).copied().unwrap_or(0.0) / at_total;
        if m <= 0.0 || a <= 0.0 {
            continue;
        }
        let type_mean = a * mean / m;
        let one = ((mean_several - type_mean) / (mean_several - 1.0)).clamp(0.0, 1.0);
        let rest = 1.0 - one;
        out.insert(
            message_kind.to_string(),
            [
                one,
                rest * when_any[1] / several,
                rest * when_any[2] / several,
                rest * when_any[3] / several,
            ],
        );
    }
    out
}

/// What a profile measured about delivery and reading.
struct ReadTarget {
    covered: Option<f64>,
    delivered: Option<f64>,
    read: Option<f64>,
    receipts_per_message: f64,
    reads_per_message: f64,
}

/// The largest room with receipts, and the per-pair delivered and read
/// chances, that best reproduce `t` (least squares of relative errors over a
/// grid), for rooms sized by the fitted member curves.
fn fit_read_model(types: &[FittedConversationType], t: &ReadTarget) -> (u32, f64, f64) {
    const K: usize = 1000;
    // P(a room has k members): the generator rounds the curve's draws.
    let pk: Vec<f64> = (0..=K)
        .map(|k| {
            let k = k as f64;
            types
                .iter()
                .map(|ty| ty.share * (ty.members.cdf(k + 0.5) - ty.members.cdf(k - 0.5)).max(0.0))
                .sum()
        })
        .collect();
    let err = |pred: f64, want: Option<f64>| match want {
        Some(w) => {
            let e = (pred - w) / w.abs().max(0.01);
            e * e
        }
        None => 0.0,
    };
    let mut best = (f64::INFINITY, 20u32, 0.95, 0.8);
    for di in 30..=100 {
        let d = di as f64 / 100.0;
        // Prefix sums over k: covered rooms, pairs of covered messages, all pairs.
        let (mut covered, mut pairs_cov, mut pairs) = (0.0, 0.0, 0.0);
        for (k, &p) in pk.iter().enumerate().skip(2) {
            let rcp = (k - 1) as f64;
            let any = 1.0 - (1.0 - d).powf(rcp);
            covered += p * any;
            pairs_cov += p * rcp * any;
            pairs += p * rcp;
            if pairs_cov <= 0.0 {
                continue;
            }
            for ri in 0..=di {
                let r = ri as f64 / 100.0;
                let e = err(covered, t.covered)
                    + err(pairs * d / pairs_cov, t.delivered)
                    + err(pairs * r / pairs_cov, t.read)
                    + err(pairs * (d + r), Some(t.receipts_per_message))
                    + err(pairs * r, Some(t.reads_per_message));
                if e < best.0 {
                    best = (e, k as u32, d, r);
                }
            }
        }
    }
    (best.1, best.2, best.3)
}

/// `base` with its counts, window and shape fitted to `p` at `scale` (counts
/// are production's times `scale`, at least 2 users, 1 conversation and one
/// message a conversation).
/// One line per declared table the profile measured: its measured rows per
/// parent beside the declared `rate` (the fit leaves declarations as written).
pub fn child_table_echo(
    p: &Profile,
    tables: &std::collections::BTreeMap<String, crate::config::ChildTable>,
) -> Vec<String> {
    tables
        .iter()
        .filter_map(|(name, t)| {
            let m = p.child_tables.get(name)?;
            Some(format!(
                "profile: {name} measured {} rows per {} parent (share with none: {}); the config declares rate = {}",
                m.mean_per_parent.map_or("-".into(), |x| format!("{x}")),
                m.parent.trim_end_matches('s'),
                m.per_parent
                    .shares
                    .get("0")
                    .map_or("-".into(), |x| format!("{x}")),
                t.rate
            ))
        })
        .collect()
}

pub fn fit(p: &Profile, scale: f64, base: &DatasetConfig) -> Result<DatasetConfig> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(Error::Config(format!(
            "--scale must be a number above 0 (got {scale})"
        )));
    }
    let mut cfg = base.clone();
    if p.counts.messages == 0 || p.counts.conversations == 0 {
        return Err(bad("it measured no messages or no conversations"));
    }
    let scaled = |n: u64| (n as f64 * scale).round() as u64;
    cfg.counts.users = scaled(p.counts.users).max(2);
    cfg.counts.conversations = scaled(p.counts.conversations).max(1);
    cfg.counts.messages = scaled(p.counts.messages).max(cfg.counts.conversations);
    if let Some(last) = p
        .window
        .last_day
        .as_deref()
        .and_then(crate::util::calendar::days_of_ymd)
    {
        cfg.window.end_ms = (last + 1) * 86_400_000;
        cfg.window.days = p.window.days.clamp(1, 3650) as u32;
    }

    let per_room = curve(&p.messages_per_conversation.per_conversation, Some(0.0))
        .ok_or_else(|| bad("messages_per_conversation.per_conversation has no quantiles"))?;
    let text_length = curve(&p.messages.text_length, Some(1.0))
        .ok_or_else(|| bad("messages.text_length has no quantiles"))?;

    let types: BTreeMap<String, f64> = p
        .conversations
        .types
        .shares
        .iter()
        .filter(|(k, _)| CONVERSATION_KINDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    if types.is_empty() {
        return Err(bad("conversations.types holds no known conversation type"));
    }
    let mut conversation_types = Vec::new();
    for (kind, share) in normalised(&types) {
        let members = p
            .conversations
            .members_per_type
            .get(&kind)
            .and_then(|q| curve(q, Some(2.0)))
            .ok_or_else(|| bad(format!("conversations.members_per_type.{kind} is missing")))?;
        conversation_types.push(FittedConversationType {
            kind,
            share,
            members,
        });
    }

    let cells: Vec<Vec<f64>> = p
        .messages
        .hour_by_weekday
        .counts
        .iter()
        .map(|r| r.iter().map(|c| c.unwrap_or(0) as f64).collect())
        .collect();
    let total: f64 = cells.iter().flatten().sum();
    if total <= 0.0 {
        return Err(bad("messages.hour_by_weekday is empty"));
    }
    let hour_by_weekday = cells
        .iter()
        .map(|r| r.iter().map(|c| (c / total * 1e6).round() / 1e6).collect())
        .collect();

    let mut kinds: BTreeMap<String, f64> = BTreeMap::new();
    for (k, v) in &p.messages.types.shares {
        let k = if MESSAGE_KINDS.contains(&k.as_str()) {
            k.as_str()
        } else {
            "TEXT"
        };
        *kinds.entry(k.to_string()).or_insert(0.0) += v;
    }
    if kinds.is_empty() {
        return Err(bad("messages.types is empty"));
    }
    let message_types = normalised(&kinds);

    let pm = &p.attachments.per_message.shares;
    let when_any = ["1", "2", "3", "4+"].map(|k| pm.get(k).copied().unwrap_or(0.0));
    let any: f64 = when_any.iter().sum();
    let attachments_when_any = if any > 0.0 {
        when_any.map(|x| x / any)
    } else {
        [1.0, 0.0, 0.0, 0.0]
    };
    let attachments_when_any_per_type = per_type_counts(p, &message_types, attachments_when_any);
    let attachment_size_bytes = p
        .attachments
        .size_bytes_per_type
        .iter()
        .filter_map(|(k, q)| curve(q, Some(1.0)).map(|c| (k.clone(), c)))
        .collect();

    let s = &mut cfg.shape;
    s.edited_share = p.messages.edited_share.unwrap_or(0.0);
    s.deleted_share = p.messages.deleted_share.unwrap_or(0.0);
    s.seasonal_amplitude = 0.0;
    let at = &p.attachments.types.shares;
    let at_total: f64 = at.values().sum();
    if at_total > 0.0 {
        let g = |k: &str| at.get(k).copied().unwrap_or(0.0) / at_total;
        s.attachment_image_share = g("IMAGE");
        s.attachment_video_share = g("VIDEO");
        s.attachment_document_share = g("DOCUMENT");
        s.attachment_audio_share =
            1.0 - s.attachment_image_share - s.attachment_video_share - s.attachment_document_share;
    }
    if let Some(zero) = pm.get("0") {
        s.attachment_one_share = pm.get("1").copied().unwrap_or(0.0);
        s.attachment_several_share = (1.0 - zero - s.attachment_one_share).max(0.0);
    }
    s.location_share = message_types.get("LOCATION").copied().unwrap_or(0.0);
    let max_room = per_room.points.last().map_or(1.0, |q| q[1]);
    s.messages_max_per_conversation = s
        .messages_max_per_conversation
        .max((max_room * 2.0).ceil() as u64);
    s.text_len_max_chars = s
        .text_len_max_chars
        .max(text_length.points.last().map_or(1.0, |q| q[1]).ceil() as u32);

    // Activity: the Zipf exponent of membership that puts the measured share
    // of memberships with the top users.
    if let Some(share) = p.activity.top_users_membership_share {
        s.user_zipf_s = zipf_exponent(cfg.counts.users, p.activity.top_user_fraction, share);
    }

    // The read model: receipts in rooms up to a member count, each
    // (message, recipient) pair delivered and read independently. The
    // profile's shares are over the pairs of messages with any receipt, so
    // they are not the per-pair chances; the three unknowns are fitted
    // jointly to everything measured about delivery.
    let per_message = |n: u64| n as f64 / p.counts.messages as f64;
    let target = ReadTarget {
        covered: p.delivery.covered_share,
        delivered: p.delivery.delivered_share,
        read: p.delivery.read_share,
        receipts_per_message: per_message(p.counts.message_receipts),
        reads_per_message: per_message(p.counts.message_reads),
    };
    let (max_members, delivered, read) = fit_read_model(&conversation_types, &target);
    s.receipts_max_room_members = max_members;
    s.delivered_share = delivered;
    s.read_share = read;

    s.fitted = Some(Fitted {
        source: format!(
            "profile format {} taken {} ({} messages), scale {scale}",
            p.format_version, p.profiled_on, p.counts.messages
        ),
        messages_per_conversation: per_room,
        conversation_types,
        text_length,
        hour_by_weekday,
        message_types,
        attachments_when_any,
        attachments_when_any_per_type,
        attachment_size_bytes,
        reply_share: p.messages.reply_share.unwrap_or(0.0),
        thread_share: p
            .messages
            .thread_share
            .unwrap_or(0.0)
            .min(p.messages.reply_share.unwrap_or(0.0)),
        read_delay_seconds: curve(&p.delivery.read_delay_seconds, Some(0.0)),
    });
    cfg.validate()?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(f: impl Fn(f64) -> f64, max: Option<f64>) -> Quantiles {
        Quantiles {
            n: 10_000,
            mean: None,
            max_rounded: max,
            at: super::super::format::levels()
                .into_iter()
                .filter(|(_, p)| *p <= 0.996)
                .map(|(k, p)| (k, f(p)))
                .collect(),
        }
    }

    #[test]
    fn curves_follow_the_table_and_reach_the_maximum() {
        let c = curve(&table(|p| (100.0 * p).round(), Some(1000.0)), Some(0.0)).unwrap();
        assert_eq!(c.points[0], [0.0, 0.0]);
        assert_eq!(*c.points.last().unwrap(), [1.0, 1000.0]);
        assert!((c.at(0.5) - 50.0).abs() < 1e-9);
        assert!((c.cdf(50.0) - 0.5).abs() < 1e-9);
        assert!(c.points.windows(2).all(|w| w[0][1] <= w[1][1]));
        // The tail is geometric: its midpoint is far below the straight line's.
        let mid = c.at(0.998);
        assert!(mid > 100.0 && mid < 550.0, "{mid}");
        let empty = Quantiles {
            n: 5,
            mean: None,
            max_rounded: None,
            at: BTreeMap::new(),
        };
        assert!(curve(&empty, None).is_none());
    }

    #[test]
    fn zipf_exponent_hits_the_share() {
        let s = zipf_exponent(6000, 0.1, 0.75);
        assert!((s - 1.0).abs() < 0.1, "{s}");
        assert!(zipf_exponent(6000, 0.1, 0.1) < 0.05);
    }
}
