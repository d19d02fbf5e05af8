//! Number formatting for terminal output and rates.

/// 1234567 -> "1,234,567"
pub fn group(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Compact number: integers as integers, small values with 4 decimals.
pub(crate) fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.4}")
    }
}

/// `amount` per second over `ms` milliseconds (0 when no time passed).
pub(crate) fn per_sec(amount: f64, ms: f64) -> f64 {
    if ms <= 0.0 {
        0.0
    } else {
        amount / (ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_and_rates() {
        assert_eq!(group(0), "0");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(per_sec(1000.0, 500.0), 2000.0);
        assert_eq!(fmt_num(3.0), "3");
        assert_eq!(fmt_num(0.25), "0.2500");
        assert_eq!(fmt_num(1234.56), "1234.6");
    }
}
