//! `chatsynth clean`: removes exactly the synthetic rows (users whose email
//! starts with the literal `syn_`, and everything that cascades from them),
//! leaving exactly what the foreign keys' own cascade would leave.
//!
//! One of three ways, all linear in the rows (every statement a hash join or
//! anti join against temp tables of ids, `sql/clean/`):
//! - every user synthetic: every row hangs off one, so the seven tables are
//!   truncated (instant at any size);
//! - the survivors are the minority (a few real users among a dataset):
//!   the survivors are copied aside, the tables truncated, the survivors put
//!   back (`keep.sql`);
//! - otherwise, or when a table outside the seven references them (TRUNCATE
//!   would refuse): set-based deletes in foreign-key order (`delete.sql`).
//!
//! Always in one transaction, under the schema's lock, so nothing is
//! half-removed. Each statement is timed on stderr.

use std::time::Instant;

use std::collections::BTreeMap;

use crate::catalog;
use crate::config::tables::{Actor, ChildTable, Parent};
use crate::db::{quote_ident, Target};
use crate::error::{DbContext, Error, Result};
use crate::model::Table;
use crate::util::num::group;

const DOOMED_SQL: &str = include_str!("../sql/clean/doomed.sql");
const KEPT_MESSAGES_SQL: &str = include_str!("../sql/clean/kept_messages.sql");
const KEEP_SQL: &str = include_str!("../sql/clean/keep.sql");
const DELETE_SQL: &str = include_str!("../sql/clean/delete.sql");
const CHILD_SQL: &str = include_str!("../sql/clean/child.sql");

/// How the synthetic rows go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Truncate,
    KeepSurvivors,
    Delete,
}

/// Truncating is only possible when no table outside the seven references
/// them; copying the survivors aside pays when they are at most half of the
/// messages (the table every large one hangs off).
fn choose(real_users: i64, external_fks: usize, kept_messages: i64, messages: i64) -> Way {
    if external_fks > 0 {
        Way::Delete
    } else if real_users == 0 {
        Way::Truncate
    } else if kept_messages.saturating_mul(2) <= messages {
        Way::KeepSurvivors
    } else {
        Way::Delete
    }
}

/// Runs each statement of `sql`, timed on stderr.
async fn run_script(tx: &tokio_postgres::Transaction<'_>, sql: &str) -> Result<()> {
    for st in statements(sql) {
        let t = Instant::now();
        tx.batch_execute(st)
            .await
            .step(format!("cleaning ({})", first_line(st)))?;
        eprintln!(
            "clean: {:>8.2}s  {}",
            t.elapsed().as_secs_f64(),
            first_line(st)
        );
    }
    Ok(())
}

/// Row counts of `tables`.
async fn counts(c: &tokio_postgres::Client, schema: &str, tables: &[String]) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for t in tables {
        let n: i64 = c
            .query_one(
                &format!(
                    "SELECT count(*) FROM {}.{}",
                    quote_ident(schema),
                    quote_ident(t)
                ),
                &[],
            )
            .await
            .step(format!("counting {t}"))?
            .get(0);
        out.push(n);
    }
    Ok(out)
}

/// The deletes of the declared child tables' synthetic rows: those off a
/// doomed parent, and those by a synthetic user.
fn child_deletes(tables: &BTreeMap<String, ChildTable>) -> String {
    let mut sql = String::new();
    for (name, t) in tables {
        let doomed = match t.parent {
            Parent::Messages => "cs_doomed_messages",
            Parent::Conversations => "cs_doomed_conversations",
            Parent::Users => "cs_syn_users",
        };
        for line in CHILD_SQL.lines().filter(|l| l.starts_with("DELETE")) {
            if line.contains("{actor_col}") && t.actor == Actor::None {
                continue;
            }
            sql.push_str(
                &line
                    .replace("{table}", &quote_ident(name))
                    .replace("{doomed}", doomed)
                    .replace("{parent_col}", &quote_ident(t.parent_column()))
                    .replace("{actor_col}", &quote_ident(&t.actor_column)),
            );
            sql.push('\n');
        }
    }
    sql
}

/// The statements of a SQL file whose statements each end a line with `;`,
/// without the comment-only pieces.
fn statements(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(";\n").map(str::trim).filter(|s| {
        s.lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with("--"))
    })
}

/// The first line of a statement that is not a comment.
fn first_line(sql: &str) -> &str {
    sql.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("--"))
        .unwrap_or("")
}

/// What a clean removed and kept, per table (for the caller's metrics).
#[derive(Debug)]
pub struct CleanReport {
    /// Every user was synthetic, so the tables were truncated.
    pub truncated: bool,
    /// (table, rows removed, rows kept), in foreign-key order.
    pub tables: Vec<(Table, u64, u64)>,
    pub elapsed_ms: f64,
}

/// Cleans `target`; the child tables `declared` in the config lose their
/// synthetic rows too (rows off a synthetic parent or by a synthetic user).
/// The stage of a sharded run in progress (`load --prepare`) is refused,
/// nothing changed, unless `abandon_run` names that run.
pub async fn run(
    target: &Target,
    declared: &BTreeMap<String, ChildTable>,
    abandon_run: Option<&str>,
) -> Result<CleanReport> {
    let tables = catalog::tables_with_children(declared.keys());
    let started = Instant::now();
    let schema = &target.schema;
    let mut client = target.connect().await?;
    crate::db::refuse_read_only(&client).await?;
    catalog::try_lock(&client, schema).await?;
    catalog::stage::guard_sharded_run(&client, schema, "clean", abandon_run, true).await?;
    catalog::children::require_present(&client, schema, declared).await?;
    let present = catalog::existing_tables(&client, schema).await?;
    if present.len() != Table::ALL.len() {
        return Err(Error::Config(format!(
            "schema {schema:?} does not hold the chat tables (found {}); nothing to clean",
            if present.is_empty() {
                "none".to_string()
            } else {
                present.join(", ")
            }
        )));
    }
    // A killed load's staging schema is synthetic too (a sharded run's only
    // when abandoned: refused above otherwise).
    catalog::stage::drop_stage(&client, schema).await?;
    let before = counts(&client, schema, &tables).await?;
    let real = catalog::non_synthetic_users(&client, schema).await?;
    let tx = client.transaction().await.step("starting the clean")?;
    tx.batch_execute(&format!(
        "SET LOCAL search_path TO {}; SET LOCAL lock_timeout = '30s'",
        quote_ident(schema)
    ))
    .await
    .step("setting up the clean")?;
    let external = catalog::foreign_keys_into_chat(&tx, schema, &tables)
        .await?
        .len();
    let (kept_messages, messages) = if real == 0 || external > 0 {
        (0, 0)
    } else {
        run_script(&tx, DOOMED_SQL).await?;
        let t = Instant::now();
        let row = tx
            .query_one(KEPT_MESSAGES_SQL, &[])
            .await
            .step("counting the messages that stay")?;
        let (kept, total) = (row.get::<_, i64>(0), row.get::<_, i64>(1));
        eprintln!(
            "clean: {:>8.2}s  {} of {} messages stay",
            t.elapsed().as_secs_f64(),
            group(kept.max(0) as u64),
            group(total.max(0) as u64)
        );
        (kept, total)
    };
    // The survivors' copy (keep.sql) knows only the seven tables.
    let way = match choose(real, external, kept_messages, messages) {
        Way::KeepSurvivors if !declared.is_empty() => Way::Delete,
        w => w,
    };
    let how = match way {
        Way::Truncate => {
            let names: Vec<String> = tables.iter().map(|t| quote_ident(t)).collect();
            tx.batch_execute(&format!("TRUNCATE {}", names.join(", ")))
                .await
                .step("truncating the synthetic tables")?;
            format!(
                "every user was synthetic: truncated the {} tables",
                tables.len()
            )
        }
        Way::KeepSurvivors => {
            run_script(&tx, KEEP_SQL).await?;
            format!("{real} real users: copied their surviving rows aside, truncated the seven tables and put them back; other rows kept")
        }
        Way::Delete => {
            if real == 0 || external > 0 {
                run_script(&tx, DOOMED_SQL).await?;
            }
            // The temp table of doomed messages first, then the declared
            // tables (the deepest children), then the chat tables.
            let all: Vec<&str> = statements(DELETE_SQL).collect();
            let first_delete = all
                .iter()
                .position(|s| first_line(s).starts_with("DELETE"))
                .unwrap_or(0);
            let children = child_deletes(declared);
            let script = format!(
                "{};\n{children}{};\n",
                all[..first_delete].join(";\n"),
                all[first_delete..].join(";\n")
            );
            run_script(&tx, &script).await?;
            format!("deleted the synthetic users and what hangs off them ({real} real users); other rows kept")
        }
    };
    tx.commit().await.step("committing the clean")?;
    let after = counts(&client, schema, &tables).await?;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    println!("{how} in {:.2}s", elapsed_ms / 1000.0);
    println!("{:<18} {:>12} {:>12}", "table", "removed", "kept");
    let mut report = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        let (removed, kept) = ((before[i] - after[i]).max(0) as u64, after[i].max(0) as u64);
        println!("{:<18} {:>12} {:>12}", t, group(removed), group(kept));
        if let Some(x) = Table::ALL.get(i) {
            report.push((*x, removed, kept));
        }
    }
    let tables = report;
    Ok(CleanReport {
        truncated: way == Way::Truncate,
        tables,
        elapsed_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scripts_split_into_their_statements() {
        let all: Vec<&str> = statements(DELETE_SQL).collect();
        assert!(all.iter().all(|s| !s.ends_with(';')));
        assert_eq!(
            all.iter()
                .filter(|s| first_line(s).starts_with("DELETE"))
                .count(),
            11
        );
        assert!(first_line(all[0]).starts_with("CREATE TEMP TABLE cs_doomed_messages"));
        assert!(all.last().unwrap().contains("DELETE FROM \"users\""));
        let keep: Vec<&str> = statements(KEEP_SQL).collect();
        assert_eq!(
            keep.iter()
                .filter(|s| first_line(s).starts_with("INSERT INTO"))
                .count(),
            7
        );
        assert_eq!(statements(DOOMED_SQL).count(), 6);
    }

    #[test]
    fn no_statement_takes_a_shape_that_rescans_per_row() {
        // IN (subquery) and NOT IN (subquery) turn into a rescan per row once
        // the ids outgrow work_mem.
        for (name, sql) in [
            ("doomed.sql", DOOMED_SQL),
            ("kept_messages.sql", KEPT_MESSAGES_SQL),
            ("keep.sql", KEEP_SQL),
            ("delete.sql", DELETE_SQL),
        ] {
            let code: String = sql
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
                .to_uppercase();
            assert!(!code.contains(" IN (SELECT"), "IN (subquery) in {name}");
            assert!(!code.contains("NOT IN"), "NOT IN in {name}");
        }
    }

    #[test]
    fn the_way_depends_on_who_stays_and_who_references_the_tables() {
        assert_eq!(choose(0, 0, 0, 500_000), Way::Truncate);
        assert_eq!(choose(2, 0, 5, 500_000), Way::KeepSurvivors);
        assert_eq!(choose(2, 0, 250_000, 500_000), Way::KeepSurvivors);
        assert_eq!(choose(2, 0, 250_001, 500_000), Way::Delete);
        // A table outside the seven references them: TRUNCATE would refuse.
        assert_eq!(choose(0, 1, 0, 500_000), Way::Delete);
        assert_eq!(choose(2, 1, 5, 500_000), Way::Delete);
    }
}
