//! The rows of the child tables declared in the config (`[tables.<name>]`,
//! `config::tables`). Each is generated in the pass of its parent (messages:
//! the children pass, which re-derives every message; conversations and
//! users: their own pass), parent by parent: how many rows, by whom, with
//! which key value and when are a pure function of (seed, table name, parent
//! index), so the rows are the same for any number of workers.
//!
//! Rows of one parent are distinct on (parent, actor, key value): the chosen
//! pairs are kept in a fixed array (at most `MAX_ROWS_PER_PARENT`), a pair
//! drawn twice is drawn again, and after a few misses the first free pair
//! from a random start is taken, so a parent gets exactly
//! `min(drawn, max, actors x values)` rows. Nothing is allocated per row.

use bytes::BytesMut;

use super::dist::{exponential, range, uniform};
use super::ids::{IdGen, ID_LEN};
use super::rng::{family, stream};
use crate::config::tables::{Actor, ChildTable, Dist, MAX_ROWS_PER_PARENT};
use crate::copy;
use crate::rules::{Choice, ParentRow, RowCtx, Rules, TableRules};

/// Stream tag of child-table draws (mixed with the table's name).
const TAG_CHILD: u64 = 11;
/// Misses before a parent's pair is found by scanning.
const DRAWS_BEFORE_SCAN: u32 = 16;

/// One declared child table, ready to generate.
pub struct Child {
    pub name: String,
    pub decl: ChildTable,
    /// The columns written, in COPY order: the declaration's, then the
    /// column rules'.
    pub columns: Vec<String>,
    width: i16,
    ids: IdGen,
    /// Key of this table's streams: (seed, name).
    family: u64,
    /// The key column's values (`None`: no key column, one implicit value).
    key: Option<Choice>,
    /// The column rules of the table's other columns.
    rules: TableRules,
}

/// FNV-1a: a hash of the table's name that never changes between builds.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The parent a row hangs off, as its generator sees it.
pub struct ChildParent<'a> {
    /// Index of the parent in its table (global message index, conversation
    /// or user index).
    pub key: u64,
    pub id: &'a [u8; ID_LEN],
    pub created_ms: i64,
    /// User indices of the room's members (empty without actors).
    pub actors: &'a [u32],
    /// The member slot that may not act (a message's sender).
    pub excluded: Option<usize>,
    /// The parent as column rules see it (`kind = "parent"`).
    pub row: ParentRow<'a>,
}

impl Child {
    /// The generator of table `name`; `rules` holds the column rules of its
    /// other columns (compiled with the declaration, so they fit it).
    pub fn new(seed: u64, name: &str, decl: &ChildTable, rules: &Rules) -> Child {
        let rules = rules.for_table(name).clone();
        let columns: Vec<String> = decl
            .columns()
            .iter()
            .map(|c| c.to_string())
            .chain(rules.extra_columns().iter().cloned())
            .collect();
        let key = decl.key.as_ref().map(|k| {
            k.choice()
                .expect("key columns are checked by DatasetConfig::validate")
        });
        Child {
            name: name.to_string(),
            width: columns.len() as i16,
            columns,
            ids: IdGen::new(seed ^ name_hash(name), 0),
            family: family(seed, name_hash(name)),
            key,
            rules,
            decl: decl.clone(),
        }
    }

    fn values(&self) -> usize {
        self.key.as_ref().map_or(1, |k| k.len())
    }

    /// Number of fields in a row.
    pub fn width(&self) -> i16 {
        self.width
    }

    /// How many distinct keys a parent with `members` room members offers.
    pub fn capacity(&self, members: usize) -> u64 {
        let actors = match self.decl.actor {
            Actor::MemberNotSender => members.saturating_sub(1),
            Actor::Member => members,
            Actor::None => 1,
        } as u64;
        actors * self.values() as u64
    }

    /// Writes the rows of one parent into `rows` (actors' ids from
    /// `user_ids`, their creation times, for column rules, from
    /// `user_created_ms`); returns how many.
    pub(crate) fn parent_rows(
        &self,
        p: &ChildParent,
        user_ids: &[[u8; ID_LEN]],
        user_created_ms: impl Fn(u64) -> i64,
        end_ms: i64,
        rows: &mut copy::Rows,
    ) -> u64 {
        let d = &self.decl;
        let mut r = stream(self.family, TAG_CHILD, p.key);
        let drawn = match d.dist {
            Dist::Poisson => poisson(&mut r, d.rate),
            Dist::Geometric => geometric(&mut r, d.rate),
        };
        // Only "member_not_sender" keeps the excluded member (the sender) out.
        let excluded = p.excluded.filter(|_| d.actor == Actor::MemberNotSender);
        let actors = match d.actor {
            Actor::None => 1,
            _ => p
                .actors
                .len()
                .saturating_sub(usize::from(excluded.is_some())),
        };
        let values = self.values();
        let n = drawn.min(d.max as u64).min(actors as u64 * values as u64) as usize;
        let mut chosen = [(0u32, 0u32); MAX_ROWS_PER_PARENT as usize];
        for j in 0..n {
            let pair = self.draw_pair(&mut r, actors, values, &chosen[..j]);
            chosen[j] = pair;
            let (a, v) = (pair.0 as usize, pair.1 as usize);
            let t = self.row_time(&mut r, p.created_ms, end_ms);
            let b = rows.begin_row();
            let row_at = b.len() - 2; // the tuple begun: its field count
            if !d.id_column.is_empty() {
                copy::bytes(
                    b,
                    &self
                        .ids
                        .id(t, p.key * MAX_ROWS_PER_PARENT as u64 + j as u64),
                );
            }
            copy::bytes(b, p.id);
            // Actor index among the eligible members -> member slot.
            let actor = (d.actor != Actor::None).then(|| {
                let slot = match excluded {
                    Some(x) if a >= x => a + 1,
                    _ => a,
                };
                p.actors[slot]
            });
            if let Some(u) = actor {
                copy::bytes(b, &user_ids[u as usize]);
            }
            if let Some(k) = &self.key {
                b.extend_from_slice(k.field(v));
            }
            put_times(b, d, t);
            if !self.rules.is_empty() {
                let user;
                let both;
                let parents: &[ParentRow] = match actor {
                    Some(u) => {
                        user = ParentRow {
                            table: "users",
                            key: u as u64,
                            created_ms: user_created_ms(u as u64),
                            parents: &[],
                        };
                        both = [p.row, user];
                        &both
                    }
                    None => std::slice::from_ref(&p.row),
                };
                let ctx = RowCtx {
                    key: p.key * MAX_ROWS_PER_PARENT as u64 + j as u64,
                    created_ms: t,
                    parents,
                };
                self.rules.encode_row(&ctx, row_at, b);
            }
            rows.end_row();
        }
        n as u64
    }

    /// A (actor, value) pair not in `taken`: drawn, or after a few misses the
    /// first free one from a random start.
    fn draw_pair(
        &self,
        r: &mut rand_pcg::Pcg64Mcg,
        actors: usize,
        values: usize,
        taken: &[(u32, u32)],
    ) -> (u32, u32) {
        for _ in 0..DRAWS_BEFORE_SCAN {
            let a = range(r, 0, actors as u64 - 1) as u32;
            // One draw even without a key column (the stream stays as it was).
            let u = uniform(r);
            let v = self.key.as_ref().map_or(0, |k| k.pick(u)) as u32;
            if !taken.contains(&(a, v)) {
                return (a, v);
            }
        }
        let total = actors as u64 * values as u64;
        let start = range(r, 0, total - 1);
        (0..total)
            .map(|i| {
                let x = (start + i) % total;
                ((x / values as u64) as u32, (x % values as u64) as u32)
            })
            .find(|p| !taken.contains(p))
            .expect("fewer rows than distinct pairs")
    }

    /// After the parent (a delay with the configured mean), before the
    /// window's end: a delay that would pass the end is drawn again
    /// uniformly within what is left.
    fn row_time(&self, r: &mut rand_pcg::Pcg64Mcg, parent_ms: i64, end_ms: i64) -> i64 {
        let room = end_ms - 1 - parent_ms;
        if room <= 0 {
            return parent_ms;
        }
        let delay = 1 + exponential(r, self.decl.delay_mean_s * 1000.0) as i64;
        if delay <= room {
            parent_ms + delay
        } else {
            parent_ms + 1 + (uniform(r) * (room - 1) as f64) as i64
        }
    }
}

fn put_times(b: &mut BytesMut, d: &ChildTable, t: i64) {
    if !d.created_column.is_empty() {
        copy::timestamp_ms(b, t);
    }
    if !d.updated_column.is_empty() {
        copy::timestamp_ms(b, t);
    }
}

/// Poisson by inversion (rates of child tables are small); large rates by a
/// rounded normal.
fn poisson(r: &mut rand_pcg::Pcg64Mcg, rate: f64) -> u64 {
    if rate <= 0.0 {
        return 0;
    }
    if rate > 30.0 {
        let z = super::dist::normal(r, rate, rate.sqrt());
        return z.round().max(0.0) as u64;
    }
    let u = uniform(r);
    let (mut k, mut p) = (0u64, (-rate).exp());
    let mut cdf = p;
    while u > cdf && k < 1_000 {
        k += 1;
        p *= rate / k as f64;
        cdf += p;
    }
    k
}

/// Geometric on 0, 1, 2, ... with mean `rate`.
fn geometric(r: &mut rand_pcg::Pcg64Mcg, rate: f64) -> u64 {
    if rate <= 0.0 {
        return 0;
    }
    let q = rate / (1.0 + rate);
    let u = 1.0 - uniform(r);
    (u.ln() / q.ln()).floor().min(1e9) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: u64) -> ParentRow<'static> {
        ParentRow {
            table: "messages",
            key,
            created_ms: 0,
            parents: &[],
        }
    }

    fn child(text: &str) -> Child {
        Child::new(7, "t", &toml::from_str(text).unwrap(), &Rules::none())
    }

    #[test]
    fn a_parent_gets_min_of_drawn_max_and_distinct_keys() {
        let users = [[b'u'; ID_LEN]; 4];
        let id = [b'p'; ID_LEN];
        let mut rows = copy::Rows::with_capacity(6, 1 << 16);
        // Rate far above the keys: every parent gets all 2 actors x 2 values.
        let c = child(
            "parent = \"messages\"\nrate = 50\nmax = 64\nkey = { column = \"e\", values = [\"a\", \"b\"] }",
        );
        for key in 0..100 {
            let p = ChildParent {
                key,
                id: &id,
                created_ms: 1_000,
                actors: &[0, 1, 2],
                excluded: Some(1),
                row: row(key),
            };
            assert_eq!(c.parent_rows(&p, &users, |_| 0, 10_000_000, &mut rows), 4);
        }
        // A room of one: nobody but the sender, no rows.
        let p = ChildParent {
            key: 1,
            id: &id,
            created_ms: 1_000,
            actors: &[3],
            excluded: Some(0),
            row: row(1),
        };
        assert_eq!(c.parent_rows(&p, &users, |_| 0, 10_000_000, &mut rows), 0);
        assert_eq!(rows.rows(), 400);
    }

    #[test]
    fn counts_follow_the_distribution_and_the_cap() {
        let users = [[b'u'; ID_LEN]; 64];
        let actors: Vec<u32> = (0..64).collect();
        let id = [b'p'; ID_LEN];
        for (dist, max) in [("poisson", 3), ("geometric", 3), ("poisson", 64)] {
            let c = child(&format!(
                "parent = \"conversations\"\nactor = \"member\"\nrate = 1.5\ndist = \"{dist}\"\nmax = {max}"
            ));
            let mut rows = copy::Rows::with_capacity(5, 1 << 20);
            let n = 20_000u64;
            let total: u64 = (0..n)
                .map(|key| {
                    let p = ChildParent {
                        key,
                        id: &id,
                        created_ms: 0,
                        actors: &actors,
                        excluded: None,
                        row: row(key),
                    };
                    let got = c.parent_rows(&p, &users, |_| 0, 1_000_000_000, &mut rows);
                    rows.take(1 << 20);
                    got
                })
                .sum();
            let mean = total as f64 / n as f64;
            let want = c.decl.expected_rows(c.capacity(64));
            assert!(
                (mean - want).abs() < 0.05,
                "{dist} max {max}: {mean} vs {want}"
            );
        }
    }
}
