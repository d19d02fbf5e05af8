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

pub fn utc_stamp() -> String {
    // Days-from-civil inverse (Howard Hinnant), to avoid a time crate.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
