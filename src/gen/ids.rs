//! Identifiers: cuid-shaped ids ('c' + 24 lower-case base36 characters) laid
//! out like Prisma's `cuid()`: the row's `createdAt` first, so ids sort by
//! creation time within a table and new rows land at the right edge of each
//! primary-key index, as in production.
//!
//! `c`, then 8 characters of Unix milliseconds, then 4 naming (seed, table),
//! then 12 that are a bijection of the row's key. The last part alone
//! makes ids unique within a table by construction (two rows in the same
//! millisecond differ there), the middle part across tables, for any number
//! of workers or shards. A row that references another computes its id from
//! the referenced row's (createdAt, key), which it knows without a look-up.

use super::rng::mix64;

pub const ID_LEN: usize = 25;
const MASK62: u64 = (1 << 62) - 1;
const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
pub use crate::util::calendar::MAX_ID_TIME_MS;

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

/// Every two-digit base36 string, so ids take few divisions.
const PAIRS: [[u8; 2]; 1296] = {
    let mut t = [[0u8; 2]; 1296];
    let mut i = 0;
    while i < 1296 {
        t[i] = [DIGITS[i / 36], DIGITS[i % 36]];
        i += 1;
    }
    t
};

/// Writes `v` (< 36^4) as 4 base36 digits.
#[inline]
fn base36_4(v: u32, out: &mut [u8]) {
    out[..2].copy_from_slice(&PAIRS[(v / 1296) as usize]);
    out[2..4].copy_from_slice(&PAIRS[(v % 1296) as usize]);
}

/// Writes `v` (< 36^6) as 6 base36 digits, with 32-bit arithmetic.
#[inline]
fn base36_6(mut v: u32, out: &mut [u8]) {
    for i in (0..3).rev() {
        out[2 * i..2 * i + 2].copy_from_slice(&PAIRS[(v % 1296) as usize]);
        v /= 1296;
    }
}

/// Writes `v` (< 36^8) as 8 base36 digits: one 64-bit division, then two
/// halves of 4 digits.
#[inline]
fn base36_8(v: u64, out: &mut [u8]) {
    const HALF: u64 = 36u64.pow(4);
    base36_4((v / HALF) as u32, &mut out[..4]);
    base36_4((v % HALF) as u32, &mut out[4..8]);
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
    /// (17 bits of the seed's salt, the table tag) in 4 base36 characters.
    tag: [u8; 4],
    key: u64,
}

impl IdGen {
    pub fn new(seed: u64, table: u64) -> IdGen {
        debug_assert!(table < 8);
        let salt = mix64(seed ^ 0x05ee_d1d5) & ((1 << 17) - 1);
        let mut tag = [0u8; 4];
        // < 2^20 < 36^4.
        base36_4(((salt << 3) | table) as u32, &mut tag);
        IdGen {
            tag,
            key: mix64(seed.wrapping_add(table.wrapping_mul(0x9e37_79b9_7f4a_7c15))),
        }
    }

    /// The id of row `key` (key < 2^62) created at `created_ms` (Unix ms; a
    /// time outside 0..=MAX_ID_TIME_MS is clamped, which keeps ids unique but
    /// not ordered: config validation rules such windows out).
    #[inline]
    pub fn id(&self, created_ms: i64, key: u64) -> [u8; ID_LEN] {
        let mut out = [0u8; ID_LEN];
        out[0] = b'c';
        base36_8(created_ms.clamp(0, MAX_ID_TIME_MS) as u64, &mut out[1..9]);
        out[9..13].copy_from_slice(&self.tag);
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
    use std::collections::{HashMap, HashSet};

    fn is_cuid_shaped(id: &[u8]) -> bool {
        id.len() == ID_LEN
            && id[0] == b'c'
            && id[1..]
                .iter()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
    }

    /// The Unix milliseconds in an id's time prefix.
    fn time_of(id: &[u8]) -> i64 {
        id[1..9].iter().fold(0i64, |acc, &c| {
            acc * 36 + DIGITS.iter().position(|&d| d == c).unwrap() as i64
        })
    }

    #[test]
    fn ids_are_cuid_shaped_and_unique_even_in_one_millisecond() {
        let g = IdGen::new(42, kind::MESSAGE);
        let t = 1_767_225_600_000;
        let mut seen = HashSet::new();
        for k in 0..200_000u64 {
            // Every key in the same millisecond: uniqueness rests on the key part.
            let id = g.id(t, k);
            assert!(is_cuid_shaped(&id), "{}", String::from_utf8_lossy(&id));
            assert_eq!(time_of(&id), t);
            assert!(seen.insert(id));
        }
        // Keys spread over time, up to the largest supported key, stay unique.
        let mut spread = HashSet::new();
        for k in (0..100_000u64).chain((1 << 62) - 1_000..1 << 62) {
            assert!(spread.insert(g.id(t + (k % 7) as i64, k)));
        }
        // Another table under the same seed never collides, even at the same time.
        let u = IdGen::new(42, kind::USER);
        assert!((0..10_000).all(|k| !seen.contains(&u.id(t, k))));
        // Another seed gives other ids.
        assert_ne!(IdGen::new(43, kind::MESSAGE).id(t, 0), g.id(t, 0));
        // The same inputs give the same id.
        assert_eq!(g.id(t, 5), IdGen::new(42, kind::MESSAGE).id(t, 5));
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let g = IdGen::new(7, kind::ATTACHMENT);
        // Times across the whole range the prefix holds, keys in any order.
        let mut x = 1u64;
        let mut rows: Vec<(i64, u64)> = (0..50_000)
            .map(|i| {
                x = mix64(x + i);
                ((x % (MAX_ID_TIME_MS as u64 + 1)) as i64, mix64(x) >> 2)
            })
            .collect();
        rows.extend([(0, 1), (MAX_ID_TIME_MS, 2), (1, 3), (35, 4), (36, 5)]);
        for &(t, k) in &rows {
            assert_eq!(time_of(&g.id(t, k)), t);
        }
        let mut by_id: Vec<([u8; ID_LEN], i64)> =
            rows.iter().map(|&(t, k)| (g.id(t, k), t)).collect();
        by_id.sort_unstable();
        assert!(by_id.windows(2).all(|w| w[0].1 <= w[1].1));
        // Neighbouring milliseconds order the same way whatever the keys.
        assert!(g.id(1_700_000_000_000, u64::MAX >> 2) < g.id(1_700_000_000_001, 0));
        // Times outside the prefix's range are clamped, not wrapped.
        assert_eq!(time_of(&g.id(-5, 9)), 0);
        assert_eq!(time_of(&g.id(MAX_ID_TIME_MS + 5, 9)), MAX_ID_TIME_MS);
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

    // ------------------------------------------- ids in the generated rows

    use crate::config::Band;
    use crate::gen::plan::Plan;
    use crate::gen::pools::Pools;
    use crate::gen::tables::{ChunkSink, Gen, Out, Scratch};
    use crate::model::Table;
    use crate::util::calendar::PG_EPOCH_MS;
    use bytes::BytesMut;

    struct Collect(Vec<(Table, BytesMut)>);
    impl ChunkSink for Collect {
        fn send(&mut self, t: Table, c: BytesMut, _rows: u64) -> bool {
            self.0.push((t, c));
            true
        }
    }

    type Row = Vec<Option<Vec<u8>>>;

    /// Decodes PGCOPY rows (no header) back into fields.
    fn decode(mut b: &[u8], out: &mut Vec<Row>) {
        let take = |b: &mut &[u8], n: usize| {
            let (h, t) = b.split_at(n);
            *b = t;
            h.to_vec()
        };
        while !b.is_empty() {
            let n = i16::from_be_bytes(take(&mut b, 2).try_into().unwrap());
            let row = (0..n)
                .map(|_| {
                    let len = i32::from_be_bytes(take(&mut b, 4).try_into().unwrap());
                    (len >= 0).then(|| take(&mut b, len as usize))
                })
                .collect();
            out.push(row);
        }
    }

    fn col(t: Table, name: &str) -> usize {
        t.columns().iter().position(|c| c.name == name).unwrap()
    }

    /// Every table of the tiny band, generated as the pipeline does (messages
    /// in two passes: the rows, then the children), decoded.
    fn generate_tiny() -> HashMap<Table, Vec<Row>> {
        let cfg = Band::Tiny.preset();
        let plan = Plan::build(&cfg);
        let pools = Pools::new(cfg.seed);
        let g = Gen::new(&plan, &pools);
        let mut sink = Collect(Vec::new());
        let mut scratch = Scratch::default();
        {
            let mut out = Out::new(&mut sink, 64 * 1024, &Table::ALL);
            for u in &plan.user_units {
                g.users(u.clone(), &mut out);
            }
            for u in &plan.conversation_units {
                g.conversations(u.clone(), &mut out, &mut scratch);
            }
            out.flush();
        }
        let children = [
            Table::Attachments,
            Table::MessageReads,
            Table::MessageReceipts,
        ];
        for tables in [&[Table::Messages][..], &children[..]] {
            let mut out = Out::new(&mut sink, 64 * 1024, tables);
            for u in &plan.message_units {
                g.messages(u.clone(), &mut out, &mut scratch);
            }
            out.flush();
        }
        let mut rows: HashMap<Table, Vec<Row>> = HashMap::new();
        for (t, chunk) in &sink.0 {
            decode(chunk, rows.entry(*t).or_default());
        }
        rows
    }

    #[test]
    fn generated_ids_carry_created_at_and_references_resolve() {
        let rows = generate_tiny();
        let ids: HashMap<Table, HashSet<Vec<u8>>> = Table::ALL
            .iter()
            .map(|&t| {
                let set: HashSet<Vec<u8>> =
                    rows[&t].iter().map(|r| r[0].clone().unwrap()).collect();
                assert_eq!(set.len(), rows[&t].len(), "{} ids are unique", t.name());
                (t, set)
            })
            .collect();
        for &t in &Table::ALL {
            let created = col(t, "createdAt");
            let mut by_id: Vec<(&[u8], i64)> = rows[&t]
                .iter()
                .map(|r| {
                    let id = r[0].as_deref().unwrap();
                    assert!(is_cuid_shaped(id));
                    let micros =
                        i64::from_be_bytes(r[created].clone().unwrap().try_into().unwrap());
                    let ms = micros / 1000 + PG_EPOCH_MS;
                    assert_eq!(
                        time_of(id),
                        ms,
                        "{}: the id's prefix is createdAt",
                        t.name()
                    );
                    (id, ms)
                })
                .collect();
            by_id.sort_unstable();
            assert!(
                by_id.windows(2).all(|w| w[0].1 <= w[1].1),
                "{}: ids sort by createdAt",
                t.name()
            );
        }
        // Every reference a child computes is the id its parent wrote.
        let refs = [
            (Table::Conversations, "creatorId", Table::Users),
            (Table::Conversations, "lastMessageId", Table::Messages),
            (Table::ConversationUsers, "userId", Table::Users),
            (
                Table::ConversationUsers,
                "conversationId",
                Table::Conversations,
            ),
            (
                Table::ConversationUsers,
                "lastReadMessageId",
                Table::Messages,
            ),
            (Table::Messages, "senderId", Table::Users),
            (Table::Messages, "conversationId", Table::Conversations),
            (Table::Messages, "replyToId", Table::Messages),
            (Table::Messages, "threadId", Table::Messages),
            (Table::Attachments, "uploaderId", Table::Users),
            (Table::Attachments, "messageId", Table::Messages),
            (Table::MessageReads, "userId", Table::Users),
            (Table::MessageReads, "messageId", Table::Messages),
            (Table::MessageReceipts, "messageId", Table::Messages),
            (Table::MessageReceipts, "userId", Table::Users),
        ];
        for (child, column, parent) in refs {
            let c = col(child, column);
            let values: Vec<&Vec<u8>> = rows[&child].iter().filter_map(|r| r[c].as_ref()).collect();
            assert!(
                !values.is_empty(),
                "{}.{column} is filled somewhere",
                child.name()
            );
            for v in values {
                assert!(
                    ids[&parent].contains(v),
                    "{}.{column} = {} is no {} id",
                    child.name(),
                    String::from_utf8_lossy(v),
                    parent.name()
                );
            }
        }
    }
}
