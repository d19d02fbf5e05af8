//! The child tables declared in the config: their foreign keys, unique keys
//! and timing (integrity, critical) and their rows per parent against the
//! configured distribution (fidelity, a warning), measured with
//! `sql/validate/child_table.sql` per table.

use std::collections::BTreeMap;

use tokio_postgres::Client;

use super::checks::{Category, Check, Expect, Kind};
use crate::config::tables::{Actor, ChildTable, Parent};
use crate::config::DatasetConfig;
use crate::db::quote_ident;
use crate::error::{DbContext, Result};
use crate::gen::children::Child;
use crate::gen::Plan;

const CHILD_TABLE_SQL: &str = include_str!("../../sql/validate/child_table.sql");

/// What was measured of one declared table.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Measured {
    pub rows: i64,
    pub parents: i64,
    pub parent_orphans: i64,
    pub actor_orphans: i64,
    pub before_parent: i64,
    pub duplicates: i64,
}

/// The configured distribution's rows per parent over the planned dataset:
/// the mean of `E[min(N, max, keys the parent offers)]`, and its variance
/// bound per parent (`rate` for Poisson, `rate (1 + rate)` for geometric).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expected {
    pub mean: f64,
    pub variance: f64,
}

/// The query of one declared table, its identifiers quoted.
fn sql(name: &str, t: &ChildTable) -> String {
    let q = |s: &str| quote_ident(s);
    let mut key = vec![q(t.parent_column())];
    if t.actor != Actor::None {
        key.push(q(&t.actor_column));
    }
    if let Some(k) = &t.key {
        key.push(q(&k.column));
    }
    let actor_orphan = if t.actor == Actor::None {
        "false".to_string()
    } else {
        format!(
            "c.{a} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM \"users\" u WHERE u.\"id\" = c.{a})",
            a = q(&t.actor_column)
        )
    };
    let before_parent = if t.created_column.is_empty() {
        "false".to_string()
    } else {
        format!("c.{} < p.\"createdAt\"", q(&t.created_column))
    };
    CHILD_TABLE_SQL
        .replace("{table}", &q(name))
        .replace("{parent}", &q(t.parent.table()))
        .replace("{parent_col}", &q(t.parent_column()))
        .replace("{actor_orphan}", &actor_orphan)
        .replace("{before_parent}", &before_parent)
        .replace("{key}", &key.join(", "))
}

/// Measures every declared table (inside the caller's snapshot).
pub async fn measure(client: &Client, ds: &DatasetConfig) -> Result<BTreeMap<String, Measured>> {
    let mut out = BTreeMap::new();
    for (name, t) in &ds.tables {
        let r = client
            .query_one(&sql(name, t), &[])
            .await
            .step(format!("measuring the declared table {name}"))?;
        out.insert(
            name.clone(),
            Measured {
                rows: r.get(0),
                parents: r.get(1),
                parent_orphans: r.get(2),
                actor_orphans: r.get(3),
                before_parent: r.get(4),
                duplicates: r.get(5),
            },
        );
    }
    Ok(out)
}

/// The expected rows per parent of every declared table under `plan`.
pub fn expected(plan: &Plan) -> BTreeMap<String, Expected> {
    plan.children
        .iter()
        .map(|c| (c.name.clone(), expected_of(plan, c)))
        .collect()
}

fn expected_of(plan: &Plan, c: &Child) -> Expected {
    let d = &c.decl;
    let variance = match d.dist {
        crate::config::tables::Dist::Poisson => d.rate,
        crate::config::tables::Dist::Geometric => d.rate * (1.0 + d.rate),
    };
    let n_conv = plan.msg_off.len() - 1;
    let mean = match d.parent {
        Parent::Users => d.expected_rows(c.capacity(0)),
        Parent::Conversations => {
            (0..n_conv)
                .map(|ci| d.expected_rows(c.capacity(plan.members_of(ci).len())))
                .sum::<f64>()
                / n_conv as f64
        }
        Parent::Messages => {
            (0..n_conv)
                .map(|ci| {
                    plan.message_count(ci) as f64
                        * d.expected_rows(c.capacity(plan.members_of(ci).len()))
                })
                .sum::<f64>()
                / plan.total_messages() as f64
        }
    };
    Expected { mean, variance }
}

/// The checks of one declared table: keys and timing must hold exactly;
/// rows per parent must lie within 4 standard errors of the expected mean
/// (parents draw independently) or `rel` of it, whichever is wider.
pub fn checks(name: &str, m: &Measured, e: Option<&Expected>, rel: f64) -> Vec<Check> {
    let zero = |what: &str, v: i64| {
        Check::new(
            &format!("{name}: {what}"),
            Category::Integrity,
            Kind::Critical,
            Expect::Zero,
            Some(v as f64),
        )
    };
    let mut c = vec![
        zero("rows without their parent", m.parent_orphans),
        zero("rows without their actor", m.actor_orphans),
        zero("duplicate unique keys", m.duplicates),
        zero("rows before their parent", m.before_parent),
    ];
    let rate = (m.parents > 0).then(|| m.rows as f64 / m.parents as f64);
    c.push(match e {
        Some(e) => {
            let se = (e.variance / m.parents.max(1) as f64).sqrt();
            Check::new(
                &format!("{name}: rows per parent"),
                Category::Fidelity,
                Kind::Warning,
                Expect::Near {
                    target: e.mean,
                    tolerance: (4.0 * se).max(rel * e.mean),
                },
                rate,
            )
            .with_note("expected: the configured distribution, capped by max and by the keys each parent offers")
        }
        None => Check::skipped(
            &format!("{name}: rows per parent"),
            Kind::Warning,
            Expect::Near {
                target: f64::NAN,
                tolerance: 0.0,
            },
            "no plan to compare with",
        ),
    });
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_quotes_every_identifier_and_keys_on_the_declaration() {
        let t: ChildTable = toml::from_str(
            "parent = \"messages\"\nrate = 0.2\nkey = { column = \"emoji\", values = [\"x\"] }",
        )
        .unwrap();
        let s = sql("message_reactions", &t);
        assert!(
            s.contains("GROUP BY \"messageId\", \"userId\", \"emoji\""),
            "{s}"
        );
        assert!(s.contains("FROM \"message_reactions\" c JOIN \"messages\" p"));
        assert!(!s.contains('{'), "{s}");
    }

    #[test]
    fn rate_within_sampling_noise_passes_and_beyond_fails() {
        let e = Expected {
            mean: 0.2,
            variance: 0.2,
        };
        let m = |rows| Measured {
            rows,
            parents: 10_000,
            ..Default::default()
        };
        // 4 standard errors of 10,000 parents: 4 * sqrt(0.2 / 10,000) = 0.018.
        let pass = checks("r", &m(2_150), Some(&e), 0.01);
        assert!(pass
            .iter()
            .all(|c| c.status == super::super::checks::Status::Pass));
        let fail = checks("r", &m(2_300), Some(&e), 0.01);
        assert_eq!(fail[4].status, super::super::checks::Status::Fail);
        let dup = checks(
            "r",
            &Measured {
                duplicates: 1,
                ..m(2_000)
            },
            Some(&e),
            0.01,
        );
        assert_eq!(dup[2].status, super::super::checks::Status::Fail);
    }
}
