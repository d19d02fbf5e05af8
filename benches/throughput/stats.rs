//! Medians, spreads and the printed lines of the bench's table.

use serde_json::{json, Value};

pub fn stats(xs: &[f64]) -> (f64, f64, f64) {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let med = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    (med, v[0], v[n - 1])
}

pub fn stats_json(xs: &[f64]) -> Value {
    let (m, lo, hi) = stats(xs);
    json!({ "median": m, "min": lo, "max": hi, "runs": xs })
}

pub fn line(label: &str, xs: &[f64], unit: &str, scale: f64, prec: usize) {
    let (m, lo, hi) = stats(xs);
    let spread = if xs.len() > 1 {
        format!(
            "  [{:.p$} .. {:.p$}] n={}",
            lo * scale,
            hi * scale,
            xs.len(),
            p = prec
        )
    } else {
        String::new()
    };
    println!(
        "{label:<52} {:>14.p$} {unit:<8}{spread}",
        m * scale,
        p = prec
    );
}

pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "MET"
    } else {
        "NOT MET"
    }
}

/// `20261125T143511Z`: the run's stamp, for file names and the report.
pub fn utc_stamp() -> String {
    chatsynth::util::calendar::compact(chatsynth::util::calendar::now_ms())
}
