//! `chatsynth clean`: removes exactly the synthetic rows (users whose email
//! starts with the literal `syn_`, and everything that cascades from them).
//! When every user is synthetic, every row of the seven tables hangs off one,
//! so the tables are truncated (instant on any size); otherwise set-based
//! deletes in foreign-key order (`sql/clean/delete.sql`). Either way in one
//! transaction, under the schema's lock, so nothing is half-removed.

use std::time::Instant;

use crate::db::{quote_ident, Target};
use crate::error::{DbContext, Error, Result};
use crate::load::ddl;
use crate::model::Table;
use crate::report::group;

const DELETE_SQL: &str = include_str!("../sql/clean/delete.sql");

/// Row counts of the seven tables.
async fn counts(c: &tokio_postgres::Client, schema: &str) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for t in Table::ALL {
        let n: i64 = c
            .query_one(
                &format!(
                    "SELECT count(*) FROM {}.{}",
                    quote_ident(schema),
                    quote_ident(t.name())
                ),
                &[],
            )
            .await
            .step(format!("counting {}", t.name()))?
            .get(0);
        out.push(n);
    }
    Ok(out)
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

pub async fn run(target: &Target) -> Result<CleanReport> {
    let started = Instant::now();
    let schema = &target.schema;
    let mut client = target.connect().await?;
    ddl::try_lock(&client, schema).await?;
    let present = ddl::existing_tables(&client, schema).await?;
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
    // A killed load's staging schema is synthetic too.
    ddl::drop_stage(&client, schema).await?;
    let before = counts(&client, schema).await?;
    let real = ddl::non_synthetic_users(&client, schema).await?;
    let tx = client.transaction().await.step("starting the clean")?;
    tx.batch_execute(&format!(
        "SET LOCAL search_path TO {}; SET LOCAL lock_timeout = '30s'",
        quote_ident(schema)
    ))
    .await
    .step("setting up the clean")?;
    let how = if real == 0 {
        let names: Vec<String> = Table::ALL.iter().map(|t| quote_ident(t.name())).collect();
        tx.batch_execute(&format!("TRUNCATE {}", names.join(", ")))
            .await
            .step("truncating the synthetic tables")?;
        "every user was synthetic: truncated the seven tables"
    } else {
        tx.batch_execute(DELETE_SQL)
            .await
            .step("deleting the synthetic rows")?;
        "deleted the synthetic users and what hangs off them; other rows kept"
    };
    tx.commit().await.step("committing the clean")?;
    let after = counts(&client, schema).await?;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    println!("{how} in {:.2}s", elapsed_ms / 1000.0);
    println!("{:<18} {:>12} {:>12}", "table", "removed", "kept");
    let mut tables = Vec::new();
    for (i, t) in Table::ALL.iter().enumerate() {
        let (removed, kept) = ((before[i] - after[i]).max(0) as u64, after[i].max(0) as u64);
        println!(
            "{:<18} {:>12} {:>12}",
            t.name(),
            group(removed),
            group(kept)
        );
        tables.push((*t, removed, kept));
    }
    Ok(CleanReport {
        truncated: real == 0,
        tables,
        elapsed_ms,
    })
}
