//! Identifiers: cuid-shaped ids ('c' + 24 lower-case base36 characters) that
//! are a bijection of (seed, table, key), so they are unique by construction
//! across any number of workers or shards, and any row can compute the id of
//! a row it references without looking it up.

use super::rng::mix64;

pub const ID_LEN: usize = 25;
const MASK62: u64 = (1 << 62) - 1;
const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Table tags inside ids (distinct per table, so ids never collide across tables).
pub mod kind {
    pub const USER: u64 = 1;
    pub const CONVERSATION: u64 = 2;
    pub const MEMBERSHIP: u64 = 3;
    pub const MESSAGE: u64 = 4;
    pub const ATTACHMENT: u64 = 5;
    pub const READ: u64 = 6;
    pub const RECEIPT: u64 = 7;
}

/// Every two-digit base36 string, so ids take 6 divisions instead of 12.
const PAIRS: [[u8; 2]; 1296] = {
    let mut t = [[0u8; 2]; 1296];
    let mut i = 0;
    while i < 1296 {
        t[i] = [DIGITS[i / 36], DIGITS[i % 36]];
        i += 1;
    }
    t
};

/// Writes `v` (< 36^6) as 6 base36 digits, with 32-bit arithmetic.
#[inline]
fn base36_6(mut v: u32, out: &mut [u8]) {
    for i in (0..3).rev() {
        out[2 * i..2 * i + 2].copy_from_slice(&PAIRS[(v % 1296) as usize]);
        v /= 1296;
    }
}

/// Writes `v` (< 36^12) as 12 base36 digits: one 64-bit division, then two
/// halves of 6 digits.
#[inline]
fn base36_12(v: u64, out: &mut [u8]) {
    const HALF: u64 = 36u64.pow(6);
    base36_6((v / HALF) as u32, &mut out[..6]);
    base36_6((v % HALF) as u32, &mut out[6..12]);
}

/// A bijection on 62-bit integers keyed by `k`.
#[inline]
fn permute62(x: u64, k: u64) -> u64 {
    let mut x = (x ^ k) & MASK62;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9) & MASK62;
    x ^= x >> 29;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb) & MASK62;
    x ^= x >> 32;
    x.wrapping_add(k >> 2) & MASK62
}

/// Makes the ids of one table under one seed.
#[derive(Clone, Copy)]
pub struct IdGen {
    prefix: [u8; 13],
    key: u64,
}

impl IdGen {
    pub fn new(seed: u64, table: u64) -> IdGen {
        let salt = mix64(seed ^ 0x05ee_d1d5) & ((1 << 54) - 1);
        let mut prefix = [b'c'; 13];
        base36_12((salt << 8) | table, &mut prefix[1..]);
        IdGen {
            prefix,
            key: mix64(seed.wrapping_add(table.wrapping_mul(0x9e37_79b9_7f4a_7c15))),
        }
    }

    /// The id of row `key` (key < 2^62).
    #[inline]
    pub fn id(&self, key: u64) -> [u8; ID_LEN] {
        let mut out = [0u8; ID_LEN];
        out[..13].copy_from_slice(&self.prefix);
        base36_12(permute62(key, self.key), &mut out[13..]);
        out
    }
}

/// A UUID-formatted string that is a bijection of (seed, key): idempotency keys.
pub fn uuid_for(seed: u64, key: u64, out: &mut [u8; 36]) {
    let hi = mix64(seed ^ 0x1de_a907);
    let lo = permute62(key, mix64(seed)) | (0b10 << 62);
    let v = ((hi as u128) << 64) | lo as u128;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut h = [0u8; 32];
    for (i, byte) in v.to_be_bytes().iter().enumerate() {
        h[2 * i] = HEX[(byte >> 4) as usize];
        h[2 * i + 1] = HEX[(byte & 0xf) as usize];
    }
    h[12] = b'4'; // the version digit
    out[..8].copy_from_slice(&h[..8]);
    out[9..13].copy_from_slice(&h[8..12]);
    out[14..18].copy_from_slice(&h[12..16]);
    out[19..23].copy_from_slice(&h[16..20]);
    out[24..].copy_from_slice(&h[20..]);
    for d in [8, 13, 18, 23] {
        out[d] = b'-';
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_cuid_shaped_and_unique() {
        let g = IdGen::new(42, kind::MESSAGE);
        let mut seen = HashSet::new();
        for k in 0..200_000u64 {
            let id = g.id(k);
            assert_eq!(id[0], b'c');
            assert!(id
                .iter()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
            assert!(seen.insert(id));
        }
        // Another table under the same seed never collides.
        let u = IdGen::new(42, kind::USER);
        assert!((0..10_000).all(|k| !seen.contains(&u.id(k))));
        // Another seed gives other ids.
        assert_ne!(IdGen::new(43, kind::MESSAGE).id(0), g.id(0));
    }

    #[test]
    fn uuids_are_unique_and_shaped() {
        let mut seen = HashSet::new();
        let mut b = [0u8; 36];
        for k in 0..100_000 {
            uuid_for(1, k, &mut b);
            assert_eq!(b[8], b'-');
            assert_eq!(b[14], b'4');
            assert!(seen.insert(b));
        }
    }
}
