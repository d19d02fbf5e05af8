//! The `validate --html` page: the decision, the charts of the dataset's shape
//! against its targets, and every check coloured by its result. Reads the
//! validate report as JSON (the same document `validate` writes) plus the
//! distributions measured for the charts ([`ValidateCharts`]); the targets
//! come from the report's dataset configuration and from the plan.

use std::collections::BTreeMap;

use minijinja::value::{Serde, Value};
use serde::{Deserialize, Serialize};

use super::charts::{self, Bin, Series, DATASET, TARGET};
use super::Chart;
use crate::config::{DatasetConfig, Shape};
use crate::error::{Error, Result};

/// The distributions the charts need, measured in the validation snapshot
/// (`sql/validate/charts/`), with the plan's messages per room as the target.
#[derive(Debug, Clone, Default)]
pub struct ValidateCharts {
    /// (messages in a conversation, conversations with that many), measured.
    pub rooms_measured: Vec<(u64, u64)>,
    /// The same, as the plan of the dataset's configuration has it.
    pub rooms_target: Vec<(u64, u64)>,
    /// Messages by UTC weekday (0 = Monday) and hour of day.
    pub weekday_hour: [[u64; 24]; 7],
    /// Messages by type.
    pub types: Vec<(String, u64)>,
    /// TEXT messages by length bin k: lengths L with floor(4 log2 L) = k.
    pub text_len_bins: Vec<(i32, u64)>,
    /// Reads by delay bin k: delays d seconds with floor(10 log10 d) = k.
    pub read_delay_bins: Vec<(i32, u64)>,
}

/// The part of the validate report the page shows; other fields are ignored.
#[derive(Deserialize)]
struct ReportView {
    validated_at: String,
    database: String,
    schema: String,
    targets_source: String,
    tolerance: f64,
    dataset: DatasetConfig,
    decision: DecisionView,
    checks: Vec<CheckView>,
    measured: BTreeMap<String, Option<f64>>,
    elapsed_ms: u64,
}

#[derive(Deserialize)]
struct DecisionView {
    go: bool,
    reasons: Vec<String>,
    warning_failures: Vec<String>,
}

#[derive(Deserialize)]
struct CheckView {
    name: String,
    category: String,
    kind: String,
    expect: serde_json::Value,
    measured: Option<f64>,
    status: String,
    #[serde(default)]
    note: String,
}

#[derive(Serialize)]
struct Row {
    name: String,
    category: String,
    kind: String,
    target: String,
    measured: String,
    status: String,
    /// CSS class: pass, fail (critical), warn (a failed warning), skip.
    class: &'static str,
    note: String,
}

/// Same rule as the terminal table: integers as integers, else 4 decimals.
fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.4}")
    }
}

fn target_text(expect: &serde_json::Value) -> String {
    let num = |k: &str| expect.get(k).and_then(|v| v.as_f64());
    match expect.get("rule").and_then(|r| r.as_str()) {
        Some("zero") => "0".into(),
        Some("near") => match (num("target"), num("tolerance")) {
            (Some(t), Some(tol)) => format!("{} ± {}", fmt_num(t), fmt_num(tol)),
            _ => "n/a".into(),
        },
        Some("at_least") => num("min").map_or("n/a".into(), |m| format!("≥ {}", fmt_num(m))),
        _ => expect.to_string(),
    }
}

fn rows(checks: &[CheckView]) -> Vec<Row> {
    checks
        .iter()
        .map(|c| {
            let class = match (c.status.as_str(), c.kind.as_str()) {
                ("pass", _) => "pass",
                ("fail", "critical") => "fail",
                ("fail", _) => "warn",
                _ => "skip",
            };
            Row {
                name: c.name.clone(),
                category: c.category.clone(),
                kind: c.kind.clone(),
                target: target_text(&c.expect),
                measured: c.measured.map_or("-".into(), fmt_num),
                status: match c.status.as_str() {
                    "pass" => "GO".into(),
                    "fail" if c.kind == "critical" => "NO-GO".into(),
                    "fail" => "NO-GO (warning)".into(),
                    other => other.to_string(),
                },
                class,
                note: c.note.clone(),
            }
        })
        .collect()
}

/// Complementary CDF of a (value, count) table: for each value v >= 1, the
/// share of all items whose value is at least v.
pub(crate) fn ccdf(table: &[(u64, u64)]) -> Vec<(f64, f64)> {
    let mut t: Vec<(u64, u64)> = table.to_vec();
    t.sort_unstable();
    let total: u64 = t.iter().map(|x| x.1).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut at_least = total;
    let mut out = Vec::new();
    for (v, n) in t {
        if v >= 1 {
            out.push((v as f64, at_least as f64 / total as f64));
        }
        at_least -= n;
    }
    out
}

/// Standard normal CDF (complementary error function, Numerical Recipes'
/// Chebyshev fit, relative error below 1.2e-7).
pub(crate) fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

/// The length bin of a text of `len` characters: floor(4 log2 len).
pub(crate) fn text_len_bin(len: u64) -> i32 {
    (4.0 * (len.max(1) as f64).log2() + 1e-9).floor() as i32
}

/// The generator's text lengths: log-normal(mu, sigma) rounded and clamped to
/// [1, max]; the share falling in each length bin.
pub(crate) fn text_len_target(shape: &Shape) -> BTreeMap<i32, f64> {
    let max = shape.text_len_max_chars.max(1) as u64;
    let cdf = |x: f64| normal_cdf((x.ln() - shape.text_len_mu) / shape.text_len_sigma);
    let mut out = BTreeMap::new();
    for len in 1..=max {
        let lo = if len == 1 { 0.0 } else { cdf(len as f64 - 0.5) };
        let hi = if len == max {
            1.0
        } else {
            cdf(len as f64 + 0.5)
        };
        *out.entry(text_len_bin(len)).or_insert(0.0) += hi - lo;
    }
    out
}

/// The generator's read-delay model at `s` seconds: a mix of uniform(0.5 s,
/// 30 s), exponential and log-normal delays (before a read is moved after its
/// delivery and before reads past the window's end are dropped).
pub(crate) fn read_delay_model_cdf(shape: &Shape, s: f64) -> f64 {
    let w = shape.read_within_30s_share + shape.read_exponential_share + shape.read_lognormal_share;
    if w <= 0.0 {
        return 0.0;
    }
    let uniform = ((s - 0.5) / 29.5).clamp(0.0, 1.0);
    let mean_s = shape.read_exponential_mean_min * 60.0;
    let exponential = if mean_s > 0.0 {
        1.0 - (-s.max(0.0) / mean_s).exp()
    } else {
        1.0
    };
    let lognormal = if s > 0.0 {
        normal_cdf(((s / 60.0).ln() - shape.read_lognormal_mu_min) / shape.read_lognormal_sigma)
    } else {
        0.0
    };
    (shape.read_within_30s_share * uniform
        + shape.read_exponential_share * exponential
        + shape.read_lognormal_share * lognormal)
        / w
}

fn share(n: f64, d: f64) -> f64 {
    if d > 0.0 {
        n / d
    } else {
        0.0
    }
}

fn charts(r: &ReportView, c: &ValidateCharts) -> Vec<Chart> {
    let shape = &r.dataset.shape;
    let mut out = Vec::new();

    // Messages per room, CCDF on log-log axes.
    let measured = ccdf(&c.rooms_measured);
    let target = ccdf(&c.rooms_target);
    let rooms: u64 = c.rooms_measured.iter().map(|x| x.1).sum();
    let empty = c
        .rooms_measured
        .iter()
        .find(|x| x.0 == 0)
        .map_or(0, |x| x.1);
    out.push(Chart {
        id: "rooms",
        title: "Messages per room",
        caption: format!(
            "Share of the {rooms} conversations with at least x messages, on log-log axes: a \
             power law is a straight line. Target: the plan of this configuration (seed {}). \
             {empty} conversations have no message and are off the log scale.",
            r.dataset.seed
        ),
        svg: super::svg_value(charts::log_log_lines(
            "Messages per room (complementary CDF)",
            "messages in the room",
            "share of rooms with at least x",
            &[
                Series {
                    name: "target (plan)".into(),
                    points: target,
                    color: TARGET,
                    width: 5,
                },
                Series {
                    name: "dataset".into(),
                    points: measured,
                    color: DATASET,
                    width: 2,
                },
            ],
        )),
    });

    // When messages are sent.
    out.push(Chart {
        id: "heatmap",
        title: "Hour of day x weekday",
        caption: "Messages sent in each UTC hour of each weekday, summed over the window; \
                  the colour runs from the quietest slot (pale) to the busiest (dark), as the scale on the right shows."
            .into(),
        svg: super::svg_value(charts::heatmap(
            "Messages by weekday and hour (UTC)",
            &c.weekday_hour,
        )),
    });

    // Text lengths.
    let texts: u64 = c.text_len_bins.iter().map(|x| x.1).sum();
    let target_bins = text_len_target(shape);
    let lo_bin = c
        .text_len_bins
        .iter()
        .map(|x| x.0)
        .chain(target_bins.iter().filter(|x| *x.1 > 1e-4).map(|x| *x.0))
        .min()
        .unwrap_or(0);
    let hi_bin = c
        .text_len_bins
        .iter()
        .map(|x| x.0)
        .chain(target_bins.iter().filter(|x| *x.1 > 1e-4).map(|x| *x.0))
        .max()
        .unwrap_or(0);
    let measured_bins: BTreeMap<i32, u64> = c.text_len_bins.iter().copied().collect();
    let bins: Vec<Bin> = (lo_bin..=hi_bin)
        .map(|k| Bin {
            lo: 2f64.powf(k as f64 / 4.0),
            hi: 2f64.powf((k + 1) as f64 / 4.0),
            measured: share(
                measured_bins.get(&k).copied().unwrap_or(0) as f64,
                texts as f64,
            ),
            target: Some(target_bins.get(&k).copied().unwrap_or(0.0)),
        })
        .collect();
    out.push(Chart {
        id: "text-length",
        title: "Text length",
        caption: format!(
            "Characters per TEXT message ({texts} messages with content), in quarter-octave bins. \
             Target: log-normal(μ {}, σ {}) rounded and clamped to [1, {}].",
            shape.text_len_mu, shape.text_len_sigma, shape.text_len_max_chars
        ),
        svg: super::svg_value(charts::log_histogram(
            "Text length (characters)",
            "characters (log scale)",
            "share of text messages",
            &bins,
        )),
    });

    // Message types.
    let total_msgs: u64 = c.types.iter().map(|x| x.1).sum();
    let mut types = c.types.clone();
    types.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out.push(Chart {
        id: "types",
        title: "Message types",
        caption: format!("Share of the {total_msgs} messages by type."),
        svg: super::svg_value(charts::category_bars(
            "Message types",
            "share of messages",
            &types
                .iter()
                .map(|(t, n)| (t.clone(), share(*n as f64, total_msgs as f64), None))
                .collect::<Vec<_>>(),
        )),
    });

    // Attachment types, against the shape's shares.
    let m = |k: &str| r.measured.get(k).copied().flatten().unwrap_or(0.0);
    let attachments = m("attachments");
    let att: Vec<(String, f64, Option<f64>)> = [
        ("IMAGE", "attachments_image", shape.attachment_image_share),
        ("VIDEO", "attachments_video", shape.attachment_video_share),
        (
            "DOCUMENT",
            "attachments_document",
            shape.attachment_document_share,
        ),
        ("AUDIO", "attachments_audio", shape.attachment_audio_share),
    ]
    .into_iter()
    .map(|(name, key, t)| (name.to_string(), share(m(key), attachments), Some(t)))
    .collect();
    out.push(Chart {
        id: "attachments",
        title: "Attachment types",
        caption: format!(
            "Share of the {} attachments by type; red ticks: the configured shares. {} messages \
             carry one attachment, {} several.",
            fmt_num(attachments),
            fmt_num(m("messages_one_attachment")),
            fmt_num(m("messages_several_attachments"))
        ),
        svg: super::svg_value(charts::category_bars(
            "Attachment types",
            "share of attachments",
            &att,
        )),
    });

    // Read delays.
    let reads: u64 = c.read_delay_bins.iter().map(|x| x.1).sum();
    let mut acc = 0u64;
    let measured_cdf: Vec<(f64, f64)> = c
        .read_delay_bins
        .iter()
        .map(|&(k, n)| {
            acc += n;
            (
                10f64.powf((k + 1) as f64 / 10.0),
                share(acc as f64, reads as f64),
            )
        })
        .collect();
    let (x0, x1) = (
        measured_cdf.first().map_or(0.1, |p| p.0 / 1.26).max(0.01),
        measured_cdf.last().map_or(86_400.0, |p| p.0),
    );
    let model: Vec<(f64, f64)> = (0..=200)
        .map(|i| {
            let s = x0 * (x1 / x0).powf(i as f64 / 200.0);
            (s, read_delay_model_cdf(shape, s))
        })
        .collect();
    out.push(Chart {
        id: "read-delay",
        title: "Read delay",
        caption: format!(
            "Cumulative share of the {reads} reads by delay after the message (readAt − \
             createdAt). Model: the generator's mix ({:.0}% within 30 s, {:.0}% exponential of \
             mean {} min, {:.0}% log-normal); the data also moves reads after delivery and drops \
             those past the window's end.",
            100.0 * shape.read_within_30s_share,
            100.0 * shape.read_exponential_share,
            shape.read_exponential_mean_min,
            100.0 * shape.read_lognormal_share
        ),
        svg: super::svg_value(charts::cdf_lines(
            "Read delay (cumulative)",
            "delay after the message (log scale)",
            &[
                Series {
                    name: "generator model".into(),
                    points: model,
                    color: TARGET,
                    width: 5,
                },
                Series {
                    name: "dataset".into(),
                    points: measured_cdf,
                    color: DATASET,
                    width: 2,
                },
            ],
        )),
    });
    out
}

/// Renders the page from the validate report (as JSON) and the chart data.
pub fn page(report: &serde_json::Value, data: &ValidateCharts) -> Result<String> {
    let r: ReportView = serde_json::from_value(report.clone()).map_err(|e| {
        Error::Other(format!(
            "the validate report lacks a field the page shows: {e}"
        ))
    })?;
    let rows = rows(&r.checks);
    let count = |class: &str| rows.iter().filter(|x| x.class == class).count();
    let charts: Vec<Value> = charts(&r, data)
        .into_iter()
        .map(Chart::into_value)
        .collect();
    let ctx = minijinja::context! {
        title => format!("chatsynth validate: {} ({})", if r.decision.go { "GO" } else { "NO-GO" }, r.dataset.band.name()),
        go => r.decision.go,
        reasons => r.decision.reasons,
        warning_failures => r.decision.warning_failures,
        validated_at => r.validated_at,
        database => r.database,
        schema => r.schema,
        targets_source => r.targets_source,
        tolerance => r.tolerance,
        band => r.dataset.band.name(),
        seed => r.dataset.seed,
        counts => Value::from(Serde(r.dataset.counts)),
        elapsed_ms => r.elapsed_ms,
        passed => count("pass"),
        failed => count("fail"),
        warned => count("warn"),
        skipped => count("skip"),
        charts => charts,
        checks => Value::from(Serde(&rows)),
        version => env!("CARGO_PKG_VERSION"),
    };
    super::render("validate.html", ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Band;

    #[test]
    fn ccdf_counts_items_at_or_above_each_value() {
        let c = ccdf(&[(0, 2), (1, 4), (3, 2), (10, 2)]);
        assert_eq!(c, vec![(1.0, 0.8), (3.0, 0.4), (10.0, 0.2)]);
        assert!(ccdf(&[]).is_empty());
    }

    #[test]
    fn normal_cdf_and_models() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158_655_25).abs() < 1e-6);
        let shape = Band::Tiny.preset().shape;
        let t = text_len_target(&shape);
        let total: f64 = t.values().sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        // The median bin holds exp(mu) ~ 90 characters.
        let (&mode, _) = t.iter().max_by(|a, b| a.1.total_cmp(b.1)).unwrap();
        assert!((mode - text_len_bin(90)).abs() <= 1, "{mode}");
        assert_eq!(text_len_bin(1), 0);
        assert_eq!(text_len_bin(2), 4);
        assert_eq!(text_len_bin(16), 16);
        assert_eq!(read_delay_model_cdf(&shape, 0.0), 0.0);
        let day = read_delay_model_cdf(&shape, 30.0 * 86_400.0);
        assert!(day > 0.99 && day <= 1.0, "{day}");
        let a = read_delay_model_cdf(&shape, 10.0);
        let b = read_delay_model_cdf(&shape, 100.0);
        assert!(a < b, "{a} {b}");
    }

    #[test]
    fn check_rows_are_coloured_by_result() {
        let checks: Vec<CheckView> = serde_json::from_value(serde_json::json!([
            {"name": "a", "category": "integrity", "kind": "critical", "expect": {"rule": "zero"}, "measured": 0.0, "status": "pass"},
            {"name": "b", "category": "integrity", "kind": "critical", "expect": {"rule": "zero"}, "measured": 3.0, "status": "fail"},
            {"name": "c", "category": "fidelity", "kind": "warning", "expect": {"rule": "near", "target": 0.5, "tolerance": 0.1}, "measured": 0.9, "status": "fail"},
            {"name": "d", "category": "fidelity", "kind": "warning", "expect": {"rule": "at_least", "min": 2.0}, "measured": null, "status": "skipped", "note": "no rows"}
        ]))
        .unwrap();
        let r = rows(&checks);
        let classes: Vec<&str> = r.iter().map(|x| x.class).collect();
        assert_eq!(classes, ["pass", "fail", "warn", "skip"]);
        assert_eq!(r[2].target, "0.5000 ± 0.1000");
        assert_eq!(r[3].target, "≥ 2");
        assert_eq!(r[1].status, "NO-GO");
        assert_eq!(r[3].measured, "-");
    }
}
