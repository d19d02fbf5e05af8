//! The application's own tables (posts, pushes, ... in the chat team's schema)
//! whose foreign keys point into the chat tables. The swap drops those keys and
//! re-creates them, validated, against the new tables; this module runs just
//! before it, once the staged dataset is complete: it counts, per key, the rows
//! of the application's tables that would no longer find the row they
//! reference, and refuses the swap with one message listing them all (the live
//! data stays as it was). The swap's own validation remains the guarantee; this
//! check only makes the failure early, complete and readable.

use tokio_postgres::Client;

use crate::db::quote_ident;
use crate::error::{DbContext, Error, Result};

const EXTERNAL_FK_COLUMNS_SQL: &str = include_str!("../../sql/catalog/external_fk_columns.sql");

/// A foreign key from a table that is not chatsynth's into one of its tables.
#[derive(Debug, Clone)]
pub(crate) struct ExternalKey {
    /// The referencing table as `regclass` prints it (quoted, qualified when
    /// not on the search_path).
    pub table: String,
    pub name: String,
    /// The chat table it references.
    pub references: String,
    pub columns: Vec<String>,
    pub ref_columns: Vec<String>,
}

pub(crate) async fn external_keys(
    client: &Client,
    schema: &str,
    chat_tables: &[String],
) -> Result<Vec<ExternalKey>> {
    Ok(client
        .query(EXTERNAL_FK_COLUMNS_SQL, &[&schema, &chat_tables])
        .await
        .step("reading foreign keys into the chat tables")?
        .iter()
        .map(|r| ExternalKey {
            table: r.get(0),
            name: r.get(1),
            references: r.get(2),
            columns: r.get(3),
            ref_columns: r.get(4),
        })
        .collect())
}

/// `SELECT count(*)` of the rows of `key.table` whose (non-NULL, MATCH SIMPLE)
/// key finds no row in the staged table: an anti-join on the staged table's
/// primary or unique index, which is built by now.
fn orphans_sql(key: &ExternalKey, stage: &str) -> String {
    let present: Vec<String> = key
        .columns
        .iter()
        .map(|c| format!("e.{} IS NOT NULL", quote_ident(c)))
        .collect();
    let matches: Vec<String> = key
        .columns
        .iter()
        .zip(&key.ref_columns)
        .map(|(c, r)| format!("r.{} = e.{}", quote_ident(r), quote_ident(c)))
        .collect();
    format!(
        "SELECT count(*) FROM {} e WHERE {} AND NOT EXISTS (SELECT 1 FROM {}.{} r WHERE {})",
        key.table,
        present.join(" AND "),
        quote_ident(stage),
        quote_ident(&key.references),
        matches.join(" AND ")
    )
}

/// Refuses the swap when rows of the application's tables reference rows the
/// staged dataset does not have. Returns how many keys it checked.
pub(crate) async fn check_against_stage(
    client: &Client,
    schema: &str,
    stage: &str,
    chat_tables: &[String],
) -> Result<usize> {
    let mut problems = Vec::new();
    let keys = external_keys(client, schema, chat_tables).await?;
    for key in &keys {
        let n: i64 = client
            .query_one(&orphans_sql(key, stage), &[])
            .await
            .step(format!(
                "checking the rows of {} against the new {}",
                key.table, key.references
            ))?
            .get(0);
        if n > 0 {
            problems.push(format!(
                "{n} rows of {} reference {} rows the new dataset does not have (foreign key {} ({}) -> {}({}))",
                key.table,
                key.references,
                quote_ident(&key.name),
                key.columns.join(", "),
                key.references,
                key.ref_columns.join(", ")
            ));
        }
    }
    if problems.is_empty() {
        return Ok(keys.len());
    }
    Err(Error::Other(format!(
        "the swap would break foreign keys of your own tables, so the live data was left as it was:\n  - {}\n\
         chatsynth replaces the chat tables wholesale. Rows of your tables survive a load only while the rows they \
         reference exist in the new dataset: the same --seed and user count give the same user ids. \
         Otherwise delete those rows first (see docs/schema.md)",
        problems.join("\n  - ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orphans_are_an_anti_join_on_every_key_column() {
        let key = ExternalKey {
            table: "app.\"Pushes\"".into(),
            name: "k".into(),
            references: "messages".into(),
            columns: vec!["conversationId".into(), "messageId".into()],
            ref_columns: vec!["conversationId".into(), "id".into()],
        };
        assert_eq!(
            orphans_sql(&key, "cs_stage_public"),
            "SELECT count(*) FROM app.\"Pushes\" e WHERE e.\"conversationId\" IS NOT NULL AND e.\"messageId\" IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM \"cs_stage_public\".\"messages\" r WHERE r.\"conversationId\" = e.\"conversationId\" AND r.\"id\" = e.\"messageId\")"
        );
    }
}
