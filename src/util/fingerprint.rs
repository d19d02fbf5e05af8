//! A table's fingerprint: a 128-bit summary of the rows it received that does
//! not depend on the order the rows arrived in.
//!
//! Each unit of work is hashed on its own (XXH3-128 over the unit's PGCOPY
//! row bytes, in the unit's row order, which is fixed by (seed, table,
//! index)), and the units' hashes are added with wrapping arithmetic. Addition
//! commutes, so generator threads, workers and shards may finish their units in
//! any order: the sum is the same. Shards of one dataset [`combine`] into the
//! fingerprint of a single run, and two runs on different machines compare
//! without reading either database.
//!
//! The unit boundaries come from the plan (a function of the dataset config),
//! so a fingerprint is comparable between runs of the same config; chunk size
//! and worker count do not enter it. A table with no rows has the zero
//! fingerprint, the identity of [`combine`].
//!
//! [`combine`]: Fingerprint::combine

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use xxhash_rust::xxh3::Xxh3;

/// The wrapping sum of per-unit XXH3-128 hashes; shown as 32 hex digits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Fingerprint(u128);

impl Fingerprint {
    /// The fingerprint of no rows.
    pub const EMPTY: Fingerprint = Fingerprint(0);

    /// The fingerprint of the rows that `a` and `b` cover between them, when
    /// they cover disjoint sets of units (shards, or the parts of one run).
    #[must_use]
    pub fn combine(self, other: Fingerprint) -> Fingerprint {
        Fingerprint(self.0.wrapping_add(other.0))
    }

    /// The fingerprint of one unit's row bytes, all at once.
    pub fn of_unit(bytes: &[u8]) -> Fingerprint {
        let mut h = UnitHasher::default();
        h.update(bytes);
        h.finish_unit()
    }
}

impl std::ops::AddAssign for Fingerprint {
    fn add_assign(&mut self, other: Fingerprint) {
        *self = self.combine(other);
    }
}

impl std::iter::Sum for Fingerprint {
    fn sum<I: Iterator<Item = Fingerprint>>(iter: I) -> Fingerprint {
        iter.fold(Fingerprint::EMPTY, Fingerprint::combine)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// Why a string is not a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFingerprint(String);

impl fmt::Display for BadFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a fingerprint (32 hex digits): {:?}", self.0)
    }
}

impl std::error::Error for BadFingerprint {}

impl FromStr for Fingerprint {
    type Err = BadFingerprint;
    fn from_str(s: &str) -> Result<Fingerprint, BadFingerprint> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BadFingerprint(s.into()));
        }
        u128::from_str_radix(s, 16)
            .map(Fingerprint)
            .map_err(|_| BadFingerprint(s.into()))
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fingerprint, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Hashes one unit's row bytes as they are produced, chunk by chunk; the
/// result does not depend on where the chunks were cut.
#[derive(Clone)]
pub struct UnitHasher {
    state: Xxh3,
    empty: bool,
}

impl Default for UnitHasher {
    fn default() -> Self {
        UnitHasher {
            state: Xxh3::new(),
            empty: true,
        }
    }
}

impl UnitHasher {
    /// Adds the next bytes of the current unit.
    #[inline]
    pub fn update(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.state.update(bytes);
            self.empty = false;
        }
    }

    /// The current unit's fingerprint ([`Fingerprint::EMPTY`] if it had no
    /// bytes); starts the next unit.
    pub fn finish_unit(&mut self) -> Fingerprint {
        if self.empty {
            return Fingerprint::EMPTY;
        }
        let f = Fingerprint(self.state.digest128());
        self.state.reset();
        self.empty = true;
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_boundaries_do_not_matter() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = Fingerprint::of_unit(&bytes);
        let mut h = UnitHasher::default();
        for c in bytes.chunks(977) {
            h.update(c);
        }
        assert_eq!(h.finish_unit(), whole);
        // The hasher starts over after a unit.
        h.update(&bytes);
        assert_eq!(h.finish_unit(), whole);
    }

    #[test]
    fn order_of_units_does_not_matter_but_contents_do() {
        let units: Vec<Fingerprint> = (0..5u8).map(|i| Fingerprint::of_unit(&[i; 40])).collect();
        let forward: Fingerprint = units.iter().copied().sum();
        let backward: Fingerprint = units.iter().rev().copied().sum();
        assert_eq!(forward, backward);
        // Two "shards" add up to the whole.
        let a: Fingerprint = units[..2].iter().copied().sum();
        let b: Fingerprint = units[2..].iter().copied().sum();
        assert_eq!(a.combine(b), forward);
        // A changed byte in one unit changes the whole.
        let mut changed = units.clone();
        changed[3] = Fingerprint::of_unit(&[3; 41]);
        assert_ne!(changed.iter().copied().sum::<Fingerprint>(), forward);
        // A missing unit changes the whole.
        assert_ne!(units[1..].iter().copied().sum::<Fingerprint>(), forward);
    }

    #[test]
    fn no_rows_is_the_identity() {
        let mut h = UnitHasher::default();
        h.update(&[]);
        assert_eq!(h.finish_unit(), Fingerprint::EMPTY);
        let f = Fingerprint::of_unit(b"rows");
        assert_eq!(f.combine(Fingerprint::EMPTY), f);
    }

    #[test]
    fn text_form_round_trips_and_rejects_junk() {
        let f = Fingerprint::of_unit(b"some rows");
        let s = f.to_string();
        assert_eq!(s.len(), 32);
        assert_eq!(s.parse::<Fingerprint>().unwrap(), f);
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(json, format!("\"{s}\""));
        assert_eq!(serde_json::from_str::<Fingerprint>(&json).unwrap(), f);
        for bad in [
            "",
            "xyz",
            &s[1..],
            &format!("{s}0"),
            &format!("+{}", &s[1..]),
        ] {
            assert!(bad.parse::<Fingerprint>().is_err(), "{bad:?} accepted");
        }
    }
}
