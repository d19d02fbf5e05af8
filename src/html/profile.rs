//! The `profile --html` page: a database's shape as `chatsynth profile`
//! measured it (messages per room, hour x weekday, text length, the type and
//! attachment mixes, the read-delay CDF) and its summary table. Reads the
//! profile as JSON (the file `profile` writes, `docs/profile.md`), so it
//! follows the file's format, not the types behind it. A profile holds
//! quantile tables and mixes, not raw rows: the charts are drawn from those.

use std::collections::BTreeMap;

use minijinja::value::{Serde, Value};
use serde::Deserialize;

use super::charts::{self, Bin, Series, DATASET};
use super::validate::text_len_bin;
use super::Chart;
use crate::error::{Error, Result};

/// The part of the profile the page shows; other fields are ignored.
#[derive(Deserialize)]
struct ProfileView {
    profiled_on: String,
    privacy: PrivacyView,
    sample: SampleView,
    conversations: ConversationsView,
    messages_per_conversation: RoomsView,
    messages: MessagesView,
    attachments: AttachmentsView,
    delivery: DeliveryView,
}

#[derive(Deserialize)]
struct PrivacyView {
    min_bucket: u64,
    suppressed: Vec<String>,
}

#[derive(Deserialize)]
struct SampleView {
    percent: f64,
    messages_seen: u64,
}

#[derive(Deserialize)]
struct QuantilesView {
    n: u64,
    at: BTreeMap<String, f64>,
}

#[derive(Deserialize)]
struct MixView {
    n: u64,
    shares: BTreeMap<String, f64>,
}

#[derive(Deserialize)]
struct ConversationsView {
    types: MixView,
}

#[derive(Deserialize)]
struct RoomsView {
    per_conversation: QuantilesView,
}

#[derive(Deserialize)]
struct MessagesView {
    types: MixView,
    text_length: QuantilesView,
    hour_by_weekday: HourByWeekdayView,
}

#[derive(Deserialize)]
struct HourByWeekdayView {
    counts: Vec<Vec<Option<u64>>>,
}

#[derive(Deserialize)]
struct AttachmentsView {
    per_message: MixView,
    types: MixView,
}

#[derive(Deserialize)]
struct DeliveryView {
    read_delay_seconds: QuantilesView,
}

/// A quantile table as (probability, value), in probability order. Level keys
/// are `p07`, `p99.5`: the number after `p` is a percent.
fn levels(q: &QuantilesView) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64)> =
        q.at.iter()
            .filter_map(|(k, &x)| {
                let pct: f64 = k.strip_prefix('p')?.parse().ok()?;
                Some((pct / 100.0, x))
            })
            .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

/// Complementary CDF from a quantile table: for each distinct value v, the
/// share of items at or above it, 1 - (the last level whose value is below v).
pub(crate) fn ccdf_from_quantiles(levels: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    let mut below = 0.0;
    for &(p, v) in levels {
        if out.last().is_none_or(|last| v > last.0) {
            out.push((v, 1.0 - below));
        }
        below = p;
    }
    out
}

/// Share of items below `x` from a quantile table (`percentile_disc`: the
/// value at level p is the smallest with at least p of the items at or below).
fn share_below(levels: &[(f64, f64)], x: f64) -> f64 {
    let below = levels
        .iter()
        .filter(|l| l.1 < x)
        .map(|l| l.0)
        .fold(0.0, f64::max);
    match levels.last() {
        Some(&(_, top)) if x > top => 1.0,
        _ => below,
    }
}

/// Text lengths in the quarter-octave bins of the validate page, from the
/// quantile table: the share between each bin's edges.
pub(crate) fn length_bins(levels: &[(f64, f64)]) -> Vec<Bin> {
    let (Some(first), Some(last)) = (levels.first(), levels.last()) else {
        return Vec::new();
    };
    let (lo, hi) = (text_len_bin(first.1 as u64), text_len_bin(last.1 as u64));
    (lo..=hi)
        .map(|k| {
            let (a, b) = (2f64.powf(k as f64 / 4.0), 2f64.powf((k + 1) as f64 / 4.0));
            Bin {
                lo: a,
                hi: b,
                measured: share_below(levels, b) - share_below(levels, a),
                target: None,
            }
        })
        .collect()
}

/// A mix as bars: largest share first, or in the keys' order (counts such as
/// "0", "1", "4+").
fn mix_bars(m: &MixView, by_share: bool) -> Vec<(String, f64, Option<f64>)> {
    let mut v: Vec<(String, f64, Option<f64>)> = m
        .shares
        .iter()
        .map(|(k, &s)| (k.clone(), s, None))
        .collect();
    if by_share {
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    }
    v
}

fn line(name: &str, points: Vec<(f64, f64)>) -> Series {
    Series {
        name: name.into(),
        points,
        color: DATASET,
        width: 2,
    }
}

fn charts(p: &ProfileView) -> Vec<Chart> {
    let k = p.privacy.min_bucket;
    let rooms = &p.messages_per_conversation.per_conversation;
    let mut out = vec![Chart {
        id: "rooms",
        title: "Messages per room",
        caption: format!(
            "Share of the {} conversations with at least x messages, on log-log axes, from the \
             profile's quantile table (a power law is a straight line; rooms without messages \
             are off the log scale).",
            rooms.n
        ),
        svg: super::svg_value(charts::log_log_lines(
            "Messages per room (complementary CDF)",
            "messages in the room",
            "share of rooms with at least x",
            &[line("profile", ccdf_from_quantiles(&levels(rooms)))],
        )),
    }];

    let mut cells = [[0u64; 24]; 7];
    let mut hidden = 0;
    for (d, row) in p.messages.hour_by_weekday.counts.iter().take(7).enumerate() {
        for (h, c) in row.iter().take(24).enumerate() {
            match c {
                Some(n) => cells[d][h] = *n,
                None => hidden += 1,
            }
        }
    }
    out.push(Chart {
        id: "heatmap",
        title: "Hour of day x weekday",
        caption: format!(
            "Messages seen in each UTC hour of each weekday ({}% sample); {hidden} cells under \
             k = {k} are suppressed and drawn as 0.",
            p.sample.percent
        ),
        svg: super::svg_value(charts::heatmap(
            "Messages by weekday and hour (UTC)",
            &cells,
        )),
    });

    let text = &p.messages.text_length;
    out.push(Chart {
        id: "text-length",
        title: "Text length",
        caption: format!(
            "Characters per TEXT message ({} messages), in quarter-octave bins, from the \
             profile's quantile table.",
            text.n
        ),
        svg: super::svg_value(charts::log_histogram(
            "Text length (characters)",
            "characters (log scale)",
            "share of text messages",
            &length_bins(&levels(text)),
        )),
    });

    for (id, title, what, mix, by_share) in [
        (
            "types",
            "Message types",
            "messages",
            &p.messages.types,
            true,
        ),
        (
            "conversation-types",
            "Conversation types",
            "conversations",
            &p.conversations.types,
            true,
        ),
        (
            "attachments",
            "Attachment types",
            "attachments",
            &p.attachments.types,
            true,
        ),
        (
            "attachments-per-message",
            "Attachments per message",
            "messages",
            &p.attachments.per_message,
            false,
        ),
    ] {
        out.push(Chart {
            id,
            title,
            caption: format!(
                "Share of the {} {what} seen by category; categories under k = {k} are left \
                 out.",
                mix.n
            ),
            svg: super::svg_value(charts::category_bars(
                title,
                &format!("share of {what}"),
                &mix_bars(mix, by_share),
            )),
        });
    }

    let delay = &p.delivery.read_delay_seconds;
    out.push(Chart {
        id: "read-delay",
        title: "Read delay",
        caption: format!(
            "Cumulative share of the {} reads by delay after the message (readAt − createdAt), \
             from the profile's quantile table.",
            delay.n
        ),
        svg: super::svg_value(charts::cdf_lines(
            "Read delay (cumulative)",
            "delay after the message (log scale)",
            &[line(
                "profile",
                levels(delay).into_iter().map(|(p, v)| (v, p)).collect(),
            )],
        )),
    });
    out
}

/// Renders the page from the profile (as JSON), where it was taken, and its
/// summary table as (what, value) rows.
pub fn page(
    profile: &serde_json::Value,
    source: &str,
    summary: &[(String, String)],
) -> Result<String> {
    let p: ProfileView = serde_json::from_value(profile.clone())
        .map_err(|e| Error::Other(format!("the profile lacks a field the page shows: {e}")))?;
    let charts: Vec<Value> = charts(&p).into_iter().map(Chart::into_value).collect();
    let ctx = minijinja::context! {
        title => format!("chatsynth profile: {source}"),
        source => source,
        profiled_on => p.profiled_on,
        sample_percent => p.sample.percent,
        messages_seen => p.sample.messages_seen,
        min_bucket => p.privacy.min_bucket,
        suppressed => p.privacy.suppressed,
        summary => Value::from(Serde(summary)),
        charts => charts,
        version => env!("CARGO_PKG_VERSION"),
    };
    super::render("profile.html", ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_become_a_ccdf_and_bins() {
        // Ten items: 1,1,1,1,1,2,2,2,4,8 as percentile_disc levels.
        let l = vec![
            (0.1, 1.0),
            (0.5, 1.0),
            (0.6, 2.0),
            (0.8, 2.0),
            (0.9, 4.0),
            (0.95, 8.0),
        ];
        let c = ccdf_from_quantiles(&l);
        let want = [(1.0, 1.0), (2.0, 0.5), (4.0, 0.2), (8.0, 0.1)];
        assert_eq!(c.len(), want.len(), "{c:?}");
        for (got, want) in c.iter().zip(want) {
            assert_eq!(got.0, want.0, "{c:?}");
            assert!((got.1 - want.1).abs() < 1e-12, "{c:?}");
        }
        assert_eq!(share_below(&l, 1.0), 0.0);
        assert_eq!(share_below(&l, 3.0), 0.8);
        assert_eq!(share_below(&l, 9.0), 1.0);
        let bins = length_bins(&l);
        let total: f64 = bins.iter().map(|b| b.measured).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        assert!(bins.iter().all(|b| b.measured >= 0.0));
        assert!(length_bins(&[]).is_empty());
    }
}
