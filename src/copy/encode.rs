//! Free functions that append one PGCOPY binary field to a buffer. Each field
//! is a 4-byte big-endian length (-1 for NULL) followed by the value's binary
//! send format. Variable-length values whose length is known only after writing
//! reserve the length slot first and fill it afterwards.

use bytes::{BufMut, BytesMut};

use crate::util::calendar::PG_EPOCH_MS;

/// Starts a row of `fields` columns.
#[inline]
pub fn row(buf: &mut BytesMut, fields: i16) {
    buf.put_i16(fields);
}

#[inline]
pub fn null(buf: &mut BytesMut) {
    buf.put_i32(-1);
}

#[inline]
pub fn bytes(buf: &mut BytesMut, v: &[u8]) {
    buf.put_i32(v.len() as i32);
    buf.put_slice(v);
}

/// TEXT (and enum labels, whose binary form is their text). Must be valid UTF-8:
/// taking `&str` guarantees it.
#[inline]
pub fn text(buf: &mut BytesMut, v: &str) {
    bytes(buf, v.as_bytes());
}

#[inline]
pub fn opt_text(buf: &mut BytesMut, v: Option<&str>) {
    match v {
        Some(s) => text(buf, s),
        None => null(buf),
    }
}

/// A TEXT field assembled in place: `f` appends the value's bytes to `buf`;
/// the length slot is reserved before and filled after. `f` must append UTF-8.
#[inline]
pub fn text_with(buf: &mut BytesMut, f: impl FnOnce(&mut BytesMut)) {
    let at = buf.len();
    buf.put_i32(0);
    f(buf);
    let len = (buf.len() - at - 4) as i32;
    buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

#[inline]
pub fn boolean(buf: &mut BytesMut, v: bool) {
    buf.put_i32(1);
    buf.put_u8(v as u8);
}

#[inline]
pub fn int4(buf: &mut BytesMut, v: i32) {
    buf.put_i32(4);
    buf.put_i32(v);
}

#[inline]
pub fn opt_int4(buf: &mut BytesMut, v: Option<i32>) {
    match v {
        Some(x) => int4(buf, x),
        None => null(buf),
    }
}

/// TIMESTAMP (without time zone) from Unix milliseconds (UTC wall time).
#[inline]
pub fn timestamp_ms(buf: &mut BytesMut, unix_ms: i64) {
    buf.put_i32(8);
    buf.put_i64((unix_ms - PG_EPOCH_MS) * 1000);
}

#[inline]
pub fn opt_timestamp_ms(buf: &mut BytesMut, v: Option<i64>) {
    match v {
        Some(x) => timestamp_ms(buf, x),
        None => null(buf),
    }
}

/// JSONB: version byte 1 followed by the JSON text; `f` appends the JSON text.
#[inline]
pub fn jsonb_with(buf: &mut BytesMut, f: impl FnOnce(&mut BytesMut)) {
    text_with(buf, |b| {
        b.put_u8(1);
        f(b)
    });
}

/// Appends `v` in decimal (no allocation).
#[inline]
pub fn put_decimal(buf: &mut BytesMut, v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let mut v = v;
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.put_slice(&tmp[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_have_length_prefixes() {
        let mut b = BytesMut::new();
        row(&mut b, 3);
        text(&mut b, "hé");
        null(&mut b);
        int4(&mut b, -7);
        assert_eq!(
            &b[..],
            &[
                0, 3, 0, 0, 0, 3, b'h', 0xc3, 0xa9, 255, 255, 255, 255, 0, 0, 0, 4, 255, 255, 255,
                249
            ]
        );
    }

    #[test]
    fn text_with_fills_the_reserved_length() {
        let mut b = BytesMut::new();
        text_with(&mut b, |b| {
            b.put_slice(b"ab");
            put_decimal(b, 1203);
        });
        assert_eq!(&b[..], b"\0\0\0\x06ab1203");
        let mut j = BytesMut::new();
        jsonb_with(&mut j, |b| b.put_slice(b"{}"));
        assert_eq!(&j[..], b"\0\0\0\x03\x01{}");
    }

    #[test]
    fn timestamps_count_microseconds_from_2000() {
        let mut b = BytesMut::new();
        timestamp_ms(&mut b, PG_EPOCH_MS + 1);
        assert_eq!(&b[4..], &1000i64.to_be_bytes());
    }
}
