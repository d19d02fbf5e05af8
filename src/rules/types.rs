//! The PostgreSQL types a rule can fill, parsed from a rule's `type` key or
//! from the catalog's `format_type()`, and their binary COPY encodings that
//! `copy::encode` does not already have (numeric, date, uuid, arrays).

use bytes::{BufMut, BytesMut};

use crate::util::calendar::PG_EPOCH_MS;

/// A column type, as far as encoding is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgType {
    Text,
    /// `varchar(n)`; `None` = no length limit.
    Varchar(Option<u32>),
    Int4,
    Int8,
    Float8,
    /// `decimal(precision, scale)`.
    Numeric(u32, u32),
    Bool,
    /// `timestamp(3)` and `timestamp` (without time zone).
    Timestamp,
    Timestamptz,
    Date,
    Jsonb,
    Json,
    Uuid,
    Bytea,
    /// An enum type (its name); its binary form is the label's text.
    Enum(String),
    /// A one-dimensional array of the element type.
    Array(Box<PgType>),
}

fn paren_args(s: &str, name: &str) -> Option<Vec<u32>> {
    let rest = s.strip_prefix(name)?.trim();
    let inner = rest.strip_prefix('(')?.strip_suffix(')')?;
    inner.split(',').map(|x| x.trim().parse().ok()).collect()
}

impl PgType {
    /// Parses a rule's `type` key, or the catalog's `format_type()` text (an
    /// enum's catalog type is recognised by the caller, not here).
    pub fn parse(s: &str) -> Option<PgType> {
        let s = s.trim();
        if let Some(elem) = s.strip_suffix("[]") {
            return match PgType::parse(elem)? {
                PgType::Array(_) => None,
                e => Some(PgType::Array(Box::new(e))),
            };
        }
        if let Some(name) = s.strip_prefix("enum:") {
            return (!name.is_empty()).then(|| PgType::Enum(name.to_string()));
        }
        let lower = s.to_ascii_lowercase();
        let l = lower.as_str();
        Some(match l {
            "text" => PgType::Text,
            "varchar" | "character varying" => PgType::Varchar(None),
            "integer" | "int" | "int4" => PgType::Int4,
            "bigint" | "int8" => PgType::Int8,
            "double precision" | "float8" => PgType::Float8,
            "boolean" | "bool" => PgType::Bool,
            "timestamp" | "timestamp without time zone" => PgType::Timestamp,
            "timestamptz" | "timestamp with time zone" => PgType::Timestamptz,
            "date" => PgType::Date,
            "jsonb" => PgType::Jsonb,
            "json" => PgType::Json,
            "uuid" => PgType::Uuid,
            "bytea" => PgType::Bytea,
            _ => {
                for name in ["varchar", "character varying"] {
                    if let Some(a) = paren_args(l, name) {
                        return (a.len() == 1 && a[0] > 0).then(|| PgType::Varchar(Some(a[0])));
                    }
                }
                for name in ["decimal", "numeric"] {
                    if let Some(a) = paren_args(l, name) {
                        let (p, sc) = match a[..] {
                            [p] => (p, 0),
                            [p, sc] => (p, sc),
                            _ => return None,
                        };
                        return ((1..=1000).contains(&p) && sc <= p)
                            .then_some(PgType::Numeric(p, sc));
                    }
                }
                for (name, tz) in [("timestamp", false), ("timestamptz", true)] {
                    let Some(rest) = l.strip_prefix(name) else {
                        continue;
                    };
                    let rest = rest.trim();
                    let Some(close) = rest.find(')') else {
                        continue;
                    };
                    if !rest.starts_with('(') || rest[1..close].trim().parse::<u32>().is_err() {
                        continue;
                    }
                    return match (rest[close + 1..].trim(), tz) {
                        ("" | "without time zone", false) => Some(PgType::Timestamp),
                        ("with time zone", false) | ("", true) => Some(PgType::Timestamptz),
                        _ => None,
                    };
                }
                return None;
            }
        })
    }

    /// The type of a catalog column: `format_type()` text, or its enum.
    pub fn of_catalog(format_type: &str, is_enum: bool, type_name: &str) -> Option<PgType> {
        if is_enum {
            return Some(PgType::Enum(type_name.to_string()));
        }
        if let Some(elem) = format_type.strip_suffix("[]") {
            // Arrays of enums cannot be told apart from their format_type alone.
            return PgType::parse(elem).map(|e| PgType::Array(Box::new(e)));
        }
        PgType::parse(format_type)
    }

    /// Whether values of a rule of type `self` can go into a column of type
    /// `column` (equal types; a shorter varchar fits a longer one).
    pub fn fits(&self, column: &PgType) -> bool {
        match (self, column) {
            (PgType::Varchar(Some(a)), PgType::Varchar(Some(b))) => a <= b,
            (PgType::Varchar(_), PgType::Varchar(None)) => true,
            (PgType::Array(a), PgType::Array(b)) => a.fits(b),
            (a, b) => a == b,
        }
    }

    /// The element OID an array of this type carries in binary COPY.
    pub fn oid(&self) -> Option<u32> {
        Some(match self {
            PgType::Text => 25,
            PgType::Varchar(_) => 1043,
            PgType::Int4 => 23,
            PgType::Int8 => 20,
            PgType::Float8 => 701,
            PgType::Numeric(..) => 1700,
            PgType::Bool => 16,
            PgType::Timestamp => 1114,
            PgType::Timestamptz => 1184,
            PgType::Date => 1082,
            PgType::Jsonb => 3802,
            PgType::Json => 114,
            PgType::Uuid => 2950,
            PgType::Bytea => 17,
            PgType::Enum(_) | PgType::Array(_) => return None,
        })
    }

    /// Types whose values are text (written as UTF-8 bytes).
    pub fn is_texty(&self) -> bool {
        matches!(self, PgType::Text | PgType::Varchar(_) | PgType::Enum(_))
    }

    /// The longest text value in characters, if limited.
    pub fn max_chars(&self) -> Option<u32> {
        match self {
            PgType::Varchar(n) => *n,
            _ => None,
        }
    }

    /// As written in a rule's `type` key.
    pub fn name(&self) -> String {
        match self {
            PgType::Text => "text".into(),
            PgType::Varchar(None) => "varchar".into(),
            PgType::Varchar(Some(n)) => format!("varchar({n})"),
            PgType::Int4 => "integer".into(),
            PgType::Int8 => "bigint".into(),
            PgType::Float8 => "double precision".into(),
            PgType::Numeric(p, s) => format!("decimal({p},{s})"),
            PgType::Bool => "boolean".into(),
            PgType::Timestamp => "timestamp(3)".into(),
            PgType::Timestamptz => "timestamptz".into(),
            PgType::Date => "date".into(),
            PgType::Jsonb => "jsonb".into(),
            PgType::Json => "json".into(),
            PgType::Uuid => "uuid".into(),
            PgType::Bytea => "bytea".into(),
            PgType::Enum(n) => format!("enum:{n}"),
            PgType::Array(e) => format!("{}[]", e.name()),
        }
    }
}

/// A field whose length is known after writing: reserve, write, fill.
#[inline]
pub fn field_with(buf: &mut BytesMut, f: impl FnOnce(&mut BytesMut)) {
    let at = buf.len();
    buf.put_i32(0);
    f(buf);
    let len = (buf.len() - at - 4) as i32;
    buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// NUMERIC's binary form of `scaled / 10^scale`: digit count, weight (of the
/// first base-10000 digit), sign, display scale, then the base-10000 digits
/// with leading and trailing zero digits left out.
pub fn numeric(buf: &mut BytesMut, scaled: i128, scale: u32) {
    // u64 arithmetic when it fits (most values): u128 division is a slow
    // library call.
    match (u64::try_from(scaled.unsigned_abs()), scale <= 15) {
        (Ok(a), true) => numeric_digits(buf, scaled < 0, a, scale),
        _ => numeric_digits(buf, scaled < 0, scaled.unsigned_abs(), scale),
    }
}

trait Unsigned:
    Copy
    + PartialOrd
    + From<u8>
    + std::ops::Div<Output = Self>
    + std::ops::Rem<Output = Self>
    + std::ops::Mul<Output = Self>
{
    fn pow10(n: u32) -> Self;
    fn low_i16(self) -> i16;
}

impl Unsigned for u64 {
    fn pow10(n: u32) -> Self {
        10u64.pow(n)
    }
    fn low_i16(self) -> i16 {
        self as i16
    }
}

impl Unsigned for u128 {
    fn pow10(n: u32) -> Self {
        10u128.pow(n)
    }
    fn low_i16(self) -> i16 {
        self as i16
    }
}

fn numeric_digits<U: Unsigned>(buf: &mut BytesMut, neg: bool, a: U, scale: u32) {
    let zero = U::from(0);
    let ten_k = U::pow10(4);
    let p10 = U::pow10(scale);
    let (mut int, frac) = (a / p10, a % p10);
    let frac_groups = scale.div_ceil(4);
    let mut frac4 = frac * U::pow10(frac_groups * 4 - scale);
    let mut digits = [0i16; 48];
    let mut n = 0usize;
    // Integer groups, least significant first, then reversed into place.
    let mut int_digits = [0i16; 12];
    let mut ni = 0;
    while int > zero {
        int_digits[ni] = (int % ten_k).low_i16();
        int = int / ten_k;
        ni += 1;
    }
    for i in (0..ni).rev() {
        digits[n] = int_digits[i];
        n += 1;
    }
    let mut fd = [0i16; 36];
    for i in (0..frac_groups as usize).rev() {
        fd[i] = (frac4 % ten_k).low_i16();
        frac4 = frac4 / ten_k;
    }
    for &d in &fd[..frac_groups as usize] {
        digits[n] = d;
        n += 1;
    }
    let mut weight = ni as i32 - 1;
    let mut start = 0;
    while start < n && digits[start] == 0 {
        start += 1;
        weight -= 1;
    }
    let mut end = n;
    while end > start && digits[end - 1] == 0 {
        end -= 1;
    }
    let nd = end - start;
    if nd == 0 {
        weight = 0;
    }
    buf.put_i32(8 + 2 * nd as i32);
    buf.put_i16(nd as i16);
    buf.put_i16(weight as i16);
    buf.put_u16(if neg && nd > 0 { 0x4000 } else { 0 });
    buf.put_u16(scale as u16);
    for &d in &digits[start..end] {
        buf.put_i16(d);
    }
}

/// DATE: days since 2000-01-01 of the UTC day holding `unix_ms`.
#[inline]
pub fn date(buf: &mut BytesMut, unix_ms: i64) {
    buf.put_i32(4);
    buf.put_i32((unix_ms - PG_EPOCH_MS).div_euclid(86_400_000) as i32);
}

/// Appends `scaled / 10^scale` as decimal text.
pub fn put_scaled(buf: &mut BytesMut, scaled: i128, scale: u32) {
    use std::fmt::Write;
    let p10 = 10u128.pow(scale);
    let a = scaled.unsigned_abs();
    let sign = if scaled < 0 { "-" } else { "" };
    if scale == 0 {
        let _ = write!(buf, "{sign}{a}");
    } else {
        let _ = write!(buf, "{sign}{}.{:0w$}", a / p10, a % p10, w = scale as usize);
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (proleptic Gregorian).
pub fn parse_date_days(s: &str) -> Option<i64> {
    let mut it = s.splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let d: i64 = it.next()?.get(..2)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(crate::util::calendar::days_from_civil(y, m, d))
}

/// Unix ms of `YYYY-MM-DD[THH:MM:SS[.mmm]][Z]`.
pub fn parse_time_ms(s: &str) -> Option<i64> {
    let days = parse_date_days(s)?;
    let mut ms = days * 86_400_000;
    let rest = s.get(10..)?.trim_end_matches('Z');
    if let Some(t) = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' ')) {
        let h: i64 = t.get(0..2)?.parse().ok()?;
        let mi: i64 = t.get(3..5)?.parse().ok()?;
        let sec: i64 = t.get(6..8)?.parse().ok()?;
        let frac = t.get(8..).unwrap_or("");
        let milli: i64 = match frac.strip_prefix('.') {
            Some(f) if !f.is_empty() && f.len() <= 3 => {
                f.parse::<i64>().ok()? * 10i64.pow(3 - f.len() as u32)
            }
            Some(_) => return None,
            None if frac.is_empty() => 0,
            None => return None,
        };
        ms += ((h * 60 + mi) * 60 + sec) * 1000 + milli;
    } else if !rest.is_empty() {
        return None;
    }
    Some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse_from_rules_and_catalog() {
        assert_eq!(
            PgType::parse("varchar(64)"),
            Some(PgType::Varchar(Some(64)))
        );
        assert_eq!(
            PgType::parse("character varying(64)"),
            Some(PgType::Varchar(Some(64)))
        );
        assert_eq!(PgType::parse("decimal(10,2)"), Some(PgType::Numeric(10, 2)));
        assert_eq!(PgType::parse("numeric(10,2)"), Some(PgType::Numeric(10, 2)));
        assert_eq!(
            PgType::parse("timestamp(3) without time zone"),
            Some(PgType::Timestamp)
        );
        assert_eq!(
            PgType::parse("timestamp(3) with time zone"),
            Some(PgType::Timestamptz)
        );
        assert_eq!(
            PgType::parse("text[]"),
            Some(PgType::Array(Box::new(PgType::Text)))
        );
        assert_eq!(PgType::parse("text[][]"), None);
        assert_eq!(PgType::parse("money"), None);
        assert!(PgType::Varchar(Some(10)).fits(&PgType::Varchar(Some(64))));
        assert!(!PgType::Varchar(Some(65)).fits(&PgType::Varchar(Some(64))));
        assert!(!PgType::Text.fits(&PgType::Varchar(Some(64))));
        for t in [
            "decimal(10,2)",
            "varchar(64)",
            "text[]",
            "timestamptz",
            "enum:Role",
        ] {
            assert_eq!(PgType::parse(t).unwrap().name(), t);
        }
    }

    fn numeric_parts(scaled: i128, scale: u32) -> (i16, i16, u16, u16, Vec<i16>) {
        let mut b = BytesMut::new();
        numeric(&mut b, scaled, scale);
        let n = i16::from_be_bytes([b[4], b[5]]);
        let digits = (0..n as usize)
            .map(|i| i16::from_be_bytes([b[12 + 2 * i], b[13 + 2 * i]]))
            .collect();
        assert_eq!(
            i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
            b.len() - 4
        );
        (
            n,
            i16::from_be_bytes([b[6], b[7]]),
            u16::from_be_bytes([b[8], b[9]]),
            u16::from_be_bytes([b[10], b[11]]),
            digits,
        )
    }

    #[test]
    fn numeric_uses_base_10000_digits_weight_sign_and_scale() {
        // 12345678.90 = 1234 5678 . 9000
        assert_eq!(
            numeric_parts(1_234_567_890, 2),
            (3, 1, 0, 2, vec![1234, 5678, 9000])
        );
        // -0.05 = 0.0500 -> one digit 500 at weight -1
        assert_eq!(numeric_parts(-5, 2), (1, -1, 0x4000, 2, vec![500]));
        // 10000 = digit 1 at weight 1, trailing zero digit dropped
        assert_eq!(numeric_parts(1_000_000, 2), (1, 1, 0, 2, vec![1]));
        assert_eq!(numeric_parts(0, 2), (0, 0, 0, 2, vec![]));
        // Beyond u64 (the u128 path): 10^20 + 0.5 at scale 1.
        assert_eq!(
            numeric_parts(1_000_000_000_000_000_000_005, 1),
            (7, 5, 0, 1, vec![1, 0, 0, 0, 0, 0, 5000])
        );
        // Both paths agree.
        for (v, sc) in [(123_456_789_012i128, 4u32), (-7, 0), (9_999_999_999, 2)] {
            let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
            numeric_digits(&mut a, v < 0, v.unsigned_abs() as u64, sc);
            numeric_digits(&mut b, v < 0, v.unsigned_abs(), sc);
            assert_eq!(a, b);
        }
        let mut b = BytesMut::new();
        put_scaled(&mut b, -5, 2);
        assert_eq!(&b[..], b"-0.05");
    }

    #[test]
    fn dates_and_times_parse() {
        assert_eq!(parse_date_days("1970-01-02"), Some(1));
        assert_eq!(parse_date_days("2000-01-01"), Some(10_957));
        assert_eq!(
            parse_time_ms("2000-01-01T00:00:01.5Z"),
            Some(PG_EPOCH_MS + 1500)
        );
        assert_eq!(parse_time_ms("2000-13-01"), None);
    }
}
