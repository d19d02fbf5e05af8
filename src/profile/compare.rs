//! Comparing two profiles metric by metric (production or an older profile
//! against a dataset or a newer one) and deciding GO or NO-GO. Pure: no
//! database, so `validate --against` and `profile --compare` share it.
//!
//! - Shares and means: relative error `|new - old| / max(|old|, floor)`, the
//!   floor (0.01 for shares) keeping tiny shares from dominating.
//! - Mixes and histograms: total variation distance (half the L1 distance of
//!   the normalised shares).
//! - Quantile tables: the Kolmogorov-Smirnov distance of the two step CDFs the
//!   tables define; it passes within the tolerance plus the sampling allowance
//!   `1.36 * sqrt((n1 + n2) / (n1 * n2))` (the 95% two-sample critical value),
//!   so a smaller dataset of the same shape is not failed for its noise.
//! - Counts: the new count against the old one times the scale factor (new
//!   messages / old messages).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::format::{level_of, round_share, HourByWeekday, Mix, Profile, Quantiles};

/// Shares below this are compared as if they were this (relative error floor).
const SHARE_FLOOR: f64 = 0.01;
/// A mix category gets its own metric when either side has at least this share.
const CATEGORY_MIN_SHARE: f64 = 0.01;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// Relative error of a share (floor 0.01).
    Share,
    /// Relative error of a mean or an unscaled count.
    Mean,
    /// Relative error of a count against the scaled reference.
    Count,
    /// Total variation distance of two mixes or histograms.
    Mix,
    /// Kolmogorov-Smirnov distance of two quantile tables.
    Distribution,
}

/// One metric of the comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    pub kind: MetricKind,
    /// The reference value (production / the older profile); a distribution's median.
    pub production: Option<f64>,
    /// The compared value (the dataset / the newer profile).
    pub dataset: Option<f64>,
    pub distance: Option<f64>,
    /// The distance allowed: the tolerance, plus the sampling allowance for distributions.
    pub allowed: f64,
    pub pass: bool,
    pub note: String,
}

/// The whole comparison and its decision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub tolerance: f64,
    /// Dataset messages / production messages: counts are compared after scaling by it.
    pub scale_factor: f64,
    pub go: bool,
    /// The names of the metrics that failed.
    pub failed: Vec<String>,
    pub metrics: Vec<Metric>,
}

struct Builder {
    tol: f64,
    metrics: Vec<Metric>,
}

fn rel(old: f64, new: f64, floor: f64) -> f64 {
    let den = old.abs().max(floor);
    if den == 0.0 {
        if new == 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    } else {
        (new - old).abs() / den
    }
}

impl Builder {
    fn push(
        &mut self,
        name: String,
        kind: MetricKind,
        (old, new): (Option<f64>, Option<f64>),
        distance: Option<f64>,
        allowed: f64,
        note: String,
    ) {
        let (pass, note) = match (old, new, distance) {
            (None, _, _) => (
                true,
                "not measured in the reference (suppressed or absent)".to_string(),
            ),
            (Some(_), None, _) => (false, "missing from the compared profile".to_string()),
            (_, _, Some(d)) => (d <= allowed + 1e-12, note),
            (_, _, None) => (false, note),
        };
        self.metrics.push(Metric {
            name,
            kind,
            production: old.map(round6),
            dataset: new.map(round6),
            distance: distance.map(round6),
            allowed: round6(allowed),
            pass,
            note,
        });
    }

    fn share(&mut self, name: &str, old: Option<f64>, new: Option<f64>) {
        self.share_n(name, old, new, (0, 0));
    }

    /// A share measured over `n` rows on each side: it passes within the
    /// tolerance plus the sampling allowance (1.96 standard errors of the
    /// difference of two proportions, relative to the reference share).
    fn share_n(&mut self, name: &str, old: Option<f64>, new: Option<f64>, n: (u64, u64)) {
        let d = old.zip(new).map(|(o, n)| rel(o, n, SHARE_FLOOR));
        let allowance = match (old, n) {
            (Some(p), (n1, n2)) if n1 > 0 && n2 > 0 => {
                let p = p.clamp(0.0, 1.0);
                1.96 * (p * (1.0 - p) * (1.0 / n1 as f64 + 1.0 / n2 as f64)).sqrt()
                    / p.max(SHARE_FLOOR)
            }
            _ => 0.0,
        };
        let note = if allowance > 0.0 {
            format!("n {} vs {}", n.0, n.1)
        } else {
            String::new()
        };
        self.push(
            name.into(),
            MetricKind::Share,
            (old, new),
            d,
            self.tol + allowance,
            note,
        );
    }

    fn mean(&mut self, name: &str, old: Option<f64>, new: Option<f64>) {
        let d = old.zip(new).map(|(o, n)| rel(o, n, 0.0));
        self.push(
            name.into(),
            MetricKind::Mean,
            (old, new),
            d,
            self.tol,
            String::new(),
        );
    }

    fn count(&mut self, name: &str, old: u64, new: u64, factor: f64) {
        let expected = old as f64 * factor;
        let d = rel(expected, new as f64, 0.0);
        self.push(
            name.into(),
            MetricKind::Count,
            (Some(expected), Some(new as f64)),
            Some(d),
            self.tol,
            format!("reference {old} x {factor:.4}"),
        );
    }

    /// A mix: its total variation distance, and each sizeable category's share.
    fn mix(&mut self, name: &str, old: &Mix, new: &Mix) {
        let d = tv(&old.shares, &new.shares);
        self.push(
            name.into(),
            MetricKind::Mix,
            (Some(old.n as f64), Some(new.n as f64)),
            Some(d),
            self.tol,
            "total variation distance; values are the row counts".into(),
        );
        let cats: BTreeSet<&String> = old.shares.keys().chain(new.shares.keys()).collect();
        for c in cats {
            let (o, n) = (
                old.shares.get(c).copied().unwrap_or(0.0),
                new.shares.get(c).copied().unwrap_or(0.0),
            );
            if o >= CATEGORY_MIN_SHARE || n >= CATEGORY_MIN_SHARE {
                self.share_n(&format!("{name}.{c}"), Some(o), Some(n), (old.n, new.n));
            }
        }
    }

    fn distribution(&mut self, name: &str, old: Option<&Quantiles>, new: Option<&Quantiles>) {
        let median = |q: &Quantiles| q.at.get("p50").copied();
        match (old, new) {
            (Some(o), Some(n)) if !o.at.is_empty() && !n.at.is_empty() => {
                let d = ks(o, n);
                let allowance = 1.36 * ((o.n + n.n) as f64 / (o.n as f64 * n.n as f64)).sqrt();
                self.push(
                    name.into(),
                    MetricKind::Distribution,
                    (median(o), median(n)),
                    Some(d),
                    self.tol + allowance,
                    format!(
                        "Kolmogorov-Smirnov; values are medians; n {} vs {}",
                        o.n, n.n
                    ),
                );
            }
            (Some(o), Some(_)) if o.at.is_empty() => {
                self.push(
                    name.into(),
                    MetricKind::Distribution,
                    (None, None),
                    None,
                    self.tol,
                    String::new(),
                );
            }
            (Some(o), _) => self.push(
                name.into(),
                MetricKind::Distribution,
                (median(o), None),
                None,
                self.tol,
                String::new(),
            ),
            (None, _) => self.push(
                name.into(),
                MetricKind::Distribution,
                (None, None),
                None,
                self.tol,
                String::new(),
            ),
        }
    }

    fn hist(&mut self, name: &str, old: &[f64], new: &[f64], note: &str) {
        let norm = |v: &[f64]| -> BTreeMap<String, f64> {
            let s: f64 = v.iter().sum();
            v.iter()
                .enumerate()
                .map(|(i, x)| (format!("{i:03}"), if s > 0.0 { x / s } else { 0.0 }))
                .collect()
        };
        let d = tv(&norm(old), &norm(new));
        self.push(
            name.into(),
            MetricKind::Mix,
            (Some(old.iter().sum()), Some(new.iter().sum())),
            Some(d),
            self.tol,
            format!("total variation distance over {note}; values are the messages seen"),
        );
    }
}

fn round6(v: f64) -> f64 {
    if v.is_finite() {
        round_share(v)
    } else {
        v
    }
}

/// Total variation distance of two share maps (missing categories are 0).
fn tv(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> f64 {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .map(|k| (a.get(k).unwrap_or(&0.0) - b.get(k).unwrap_or(&0.0)).abs())
        .sum::<f64>()
        / 2.0
}

/// The step CDF a quantile table defines: the highest level whose value is at
/// or below `x` (1 at or above the rounded maximum of a table with no missing top).
fn cdf(points: &[(f64, f64)], x: f64) -> f64 {
    let mut f = 0.0;
    for &(p, v) in points {
        if v <= x {
            f = p;
        } else {
            break;
        }
    }
    f
}

fn points(q: &Quantiles) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64)> =
        q.at.iter()
            .filter_map(|(k, v)| level_of(k).map(|p| (p, *v)))
            .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

/// Kolmogorov-Smirnov distance between two quantile tables, evaluated at every
/// value either table holds.
pub(crate) fn ks(a: &Quantiles, b: &Quantiles) -> f64 {
    let (pa, pb) = (points(a), points(b));
    pa.iter()
        .chain(pb.iter())
        .map(|&(_, x)| (cdf(&pa, x) - cdf(&pb, x)).abs())
        .fold(0.0, f64::max)
}

fn hour_curves(h: &HourByWeekday) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let cell = |c: &Option<u64>| c.unwrap_or(0) as f64;
    let all: Vec<f64> = h.counts.iter().flatten().map(cell).collect();
    let hours: Vec<f64> = (0..24)
        .map(|hr| h.counts.iter().map(|r| cell(&r[hr])).sum())
        .collect();
    let days: Vec<f64> = h.counts.iter().map(|r| r.iter().map(cell).sum()).collect();
    (all, hours, days)
}

/// Compares `new` with the reference `old` within `tolerance`.
pub fn compare(old: &Profile, new: &Profile, tolerance: f64) -> Comparison {
    let mut b = Builder {
        tol: tolerance,
        metrics: Vec::new(),
    };
    let factor = if old.counts.messages > 0 {
        new.counts.messages as f64 / old.counts.messages as f64
    } else {
        1.0
    };
    let (oc, nc) = (&old.counts, &new.counts);
    for (name, o, n) in [
        ("counts.users", oc.users, nc.users),
        ("counts.conversations", oc.conversations, nc.conversations),
        (
            "counts.conversation_users",
            oc.conversation_users,
            nc.conversation_users,
        ),
        ("counts.attachments", oc.attachments, nc.attachments),
        ("counts.message_reads", oc.message_reads, nc.message_reads),
        (
            "counts.message_receipts",
            oc.message_receipts,
            nc.message_receipts,
        ),
    ] {
        b.count(name, o, n, factor);
    }
    b.mean(
        "window.days",
        Some(old.window.days as f64),
        Some(new.window.days as f64),
    );

    b.mix(
        "conversations.types",
        &old.conversations.types,
        &new.conversations.types,
    );
    let kinds: BTreeSet<&String> = old.conversations.members_per_type.keys().collect();
    for k in kinds {
        b.distribution(
            &format!("conversations.members.{k}"),
            old.conversations.members_per_type.get(k),
            new.conversations.members_per_type.get(k),
        );
    }

    let (or, nr) = (
        &old.messages_per_conversation,
        &new.messages_per_conversation,
    );
    b.distribution(
        "messages_per_conversation",
        Some(&or.per_conversation),
        Some(&nr.per_conversation),
    );
    b.mean(
        "messages_per_conversation.mean",
        or.per_conversation.mean,
        nr.per_conversation.mean,
    );
    b.share(
        "messages_per_conversation.top_2pct_rooms_share",
        or.top_2pct_rooms_message_share,
        nr.top_2pct_rooms_message_share,
    );

    let (om, nm) = (&old.messages, &new.messages);
    let seen = (old.sample.messages_seen, new.sample.messages_seen);
    b.mix("messages.types", &om.types, &nm.types);
    b.distribution(
        "messages.text_length",
        Some(&om.text_length),
        Some(&nm.text_length),
    );
    b.share_n("messages.reply_share", om.reply_share, nm.reply_share, seen);
    b.share_n(
        "messages.thread_share",
        om.thread_share,
        nm.thread_share,
        seen,
    );
    b.share_n(
        "messages.edited_share",
        om.edited_share,
        nm.edited_share,
        seen,
    );
    b.share_n(
        "messages.deleted_share",
        om.deleted_share,
        nm.deleted_share,
        seen,
    );
    b.share_n(
        "messages.system_share",
        om.system_share,
        nm.system_share,
        seen,
    );
    let (oa, oh, od) = hour_curves(&om.hour_by_weekday);
    let (na, nh, nd) = hour_curves(&nm.hour_by_weekday);
    b.hist("messages.hour_curve", &oh, &nh, "24 UTC hours");
    b.hist("messages.weekday_curve", &od, &nd, "7 weekdays");
    b.hist(
        "messages.hour_by_weekday",
        &oa,
        &na,
        "168 weekday-hour cells",
    );

    let (oat, nat) = (&old.attachments, &new.attachments);
    b.mix(
        "attachments.per_message",
        &oat.per_message,
        &nat.per_message,
    );
    b.mean(
        "attachments.mean_per_message",
        oat.mean_per_message,
        nat.mean_per_message,
    );
    b.mix("attachments.types", &oat.types, &nat.types);
    for k in oat.size_bytes_per_type.keys() {
        b.distribution(
            &format!("attachments.size.{k}"),
            oat.size_bytes_per_type.get(k),
            nat.size_bytes_per_type.get(k),
        );
    }

    b.share(
        "activity.top_users_message_share",
        old.activity.top_users_message_share,
        new.activity.top_users_message_share,
    );
    b.share(
        "activity.top_users_membership_share",
        old.activity.top_users_membership_share,
        new.activity.top_users_membership_share,
    );

    let (odl, ndl) = (&old.delivery, &new.delivery);
    let pairs = (odl.pairs_seen, ndl.pairs_seen);
    b.share_n(
        "delivery.covered_share",
        odl.covered_share,
        ndl.covered_share,
        (old.sample.messages_seen, new.sample.messages_seen),
    );
    b.share_n(
        "delivery.delivered_share",
        odl.delivered_share,
        ndl.delivered_share,
        pairs,
    );
    b.share_n("delivery.read_share", odl.read_share, ndl.read_share, pairs);
    b.share(
        "delivery.reads_per_pair",
        odl.reads_per_pair,
        ndl.reads_per_pair,
    );
    b.distribution(
        "delivery.read_delay_seconds",
        Some(&odl.read_delay_seconds),
        Some(&ndl.read_delay_seconds),
    );

    let failed: Vec<String> = b
        .metrics
        .iter()
        .filter(|m| !m.pass)
        .map(|m| m.name.clone())
        .collect();
    Comparison {
        tolerance,
        scale_factor: round6(factor),
        go: failed.is_empty(),
        failed,
        metrics: b.metrics,
    }
}

/// The comparison as a terminal table.
pub fn render(c: &Comparison, old_label: &str, new_label: &str) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let w = c
        .metrics
        .iter()
        .map(|m| m.name.len())
        .max()
        .unwrap_or(10)
        .max(6);
    let _ = writeln!(
        s,
        "reference: {old_label}\ncompared:  {new_label}\ntolerance {}, counts scaled by {:.4}\n",
        c.tolerance, c.scale_factor
    );
    let _ = writeln!(
        s,
        "{:<w$}  {:<12}  {:>14}  {:>14}  {:>9}  {:>9}  result",
        "metric", "kind", "reference", "compared", "distance", "allowed"
    );
    let f = |v: Option<f64>| match v {
        None => "-".to_string(),
        Some(x) if x.is_infinite() => "inf".to_string(),
        Some(x) if x.abs() >= 1000.0 || x == x.trunc() => format!("{x:.0}"),
        Some(x) => format!("{x:.4}"),
    };
    for m in &c.metrics {
        let kind = match m.kind {
            MetricKind::Share => "share",
            MetricKind::Mean => "mean",
            MetricKind::Count => "count",
            MetricKind::Mix => "mix (TV)",
            MetricKind::Distribution => "dist (KS)",
        };
        let _ = writeln!(
            s,
            "{:<w$}  {:<12}  {:>14}  {:>14}  {:>9}  {:>9}  {}",
            m.name,
            kind,
            f(m.production),
            f(m.dataset),
            f(m.distance),
            format!("{:.3}", m.allowed),
            if m.pass { "pass" } else { "FAIL" }
        );
    }
    let _ = writeln!(s);
    if c.go {
        let _ = writeln!(
            s,
            "decision: GO ({} metrics within tolerance)",
            c.metrics.len()
        );
    } else {
        let _ = writeln!(
            s,
            "decision: NO-GO ({} of {} metrics out of tolerance: {})",
            c.failed.len(),
            c.metrics.len(),
            c.failed.join(", ")
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::format::levels;

    fn table(n: u64, f: impl Fn(f64) -> f64) -> Quantiles {
        Quantiles {
            n,
            mean: None,
            max_rounded: None,
            at: levels().into_iter().map(|(k, p)| (k, f(p))).collect(),
        }
    }

    #[test]
    fn ks_of_a_table_with_itself_is_zero_and_grows_with_a_shift() {
        let a = table(10_000, |p| (p * 100.0).round());
        assert_eq!(ks(&a, &a), 0.0);
        let b = table(10_000, |p| (p * 100.0).round() + 30.0);
        let d = ks(&a, &b);
        assert!((0.25..=0.35).contains(&d), "{d}");
        let constant = table(100, |_| 2.0);
        assert_eq!(ks(&constant, &constant), 0.0);
    }

    #[test]
    fn tv_and_relative_error() {
        let m = |v: &[(&str, f64)]| -> BTreeMap<String, f64> {
            v.iter().map(|(k, x)| (k.to_string(), *x)).collect()
        };
        assert!(
            (tv(&m(&[("A", 0.7), ("B", 0.3)]), &m(&[("A", 0.4), ("C", 0.6)])) - 0.6).abs() < 1e-12
        );
        assert!((rel(0.5, 0.6, SHARE_FLOOR) - 0.2).abs() < 1e-12);
        assert_eq!(rel(0.0, 0.05, SHARE_FLOOR), 5.0);
        assert_eq!(rel(0.0, 0.0, 0.0), 0.0);
    }
}
