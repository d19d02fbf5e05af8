//! What chatsynth reads from (and writes into) a database's catalog, below
//! the commands that use it (`load`, `refresh`, `validate`, `explain`, `clean`,
//! `schema check`):
//!
//! - here: the chat tables that exist, the schema lock, and whether the target
//!   already holds (synthetic) rows;
//! - [`schema`]: creating the tables from `sql/schema.sql` and the preflight
//!   that compares the target's columns and enums with what the generators write;
//! - [`privileges`]: what the connected role lacks to stage and swap;
//! - [`deferred`]: the target's indexes and constraints, rebuilt on the staging
//!   tables after the load;
//! - [`stage`]: the staging schema and the swap that replaces the target tables
//!   in one short transaction;
//! - [`external`]: the application's own tables with foreign keys into the chat
//!   tables, checked against the staged data before the swap;
//! - [`survey`]: the whole schema (every column, keys into the chat tables,
//!   enums) as `chatsynth schema check` judges it;
//! - [`ledger`]: the run ledger `chatsynth_runs`.
//!
//! The target is never written before the swap: a failed, interrupted or
//! killed load leaves it as it was, and the next run drops the leftovers.
//! Statements live in `sql/catalog/` and `sql/ledger/`.

pub mod children;
pub mod deferred;
pub mod external;
pub mod ledger;
pub mod privileges;
pub mod schema;
pub mod stage;
pub mod survey;

use std::collections::BTreeMap;

use tokio_postgres::Client;

use crate::db::quote_ident;
use crate::error::{DbContext, Error, Result};
use crate::model::Table;

const CATALOG_TABLES_SQL: &str = include_str!("../../sql/catalog/tables.sql");
const CATALOG_EXTERNAL_FKS_SQL: &str = include_str!("../../sql/catalog/external_fks.sql");

/// The names of the seven tables, in load order.
pub(crate) fn table_names() -> Vec<String> {
    Table::ALL.iter().map(|t| t.name().to_string()).collect()
}

/// The seven tables, then the child tables declared in the config: every
/// table a load stages, rebuilds and swaps.
pub fn tables_with_children<'a>(declared: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut names = table_names();
    names.extend(declared.into_iter().cloned());
    names
}

/// Advisory lock key of a target schema: one chatsynth writer per schema.
pub(crate) fn lock_key(target_schema: &str) -> String {
    format!("chatsynth:{target_schema}")
}

/// Takes the schema's advisory lock for this session, or refuses when another
/// chatsynth run holds it.
pub(crate) async fn try_lock(client: &Client, schema: &str) -> Result<()> {
    let row = client
        .query_one(
            "SELECT pg_try_advisory_lock(hashtext($1))",
            &[&lock_key(schema)],
        )
        .await
        .step("taking the schema lock")?;
    if row.get::<_, bool>(0) {
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "another chatsynth run is writing into schema {schema:?}; wait for it to finish"
        )))
    }
}

/// Which of the seven tables exist in the schema.
pub(crate) async fn existing_tables(
    client: &impl tokio_postgres::GenericClient,
    schema: &str,
) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = ANY($2) AND c.relkind IN ('r', 'p')",
            &[&schema, &table_names()],
        )
        .await
        .step("reading the target's tables")?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Tables of `tables` that hold at least one row, and whether any user row is
/// not synthetic (email not starting with the literal `syn_`).
pub(crate) async fn occupancy(
    client: &Client,
    schema: &str,
    tables: &[String],
) -> Result<(Vec<String>, i64)> {
    let mut non_empty = Vec::new();
    for t in tables {
        let row = client
            .query_one(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM {}.{})",
                    quote_ident(schema),
                    quote_ident(t)
                ),
                &[],
            )
            .await
            .step(format!("checking whether {t} is empty"))?;
        if row.get::<_, bool>(0) {
            non_empty.push(t.clone());
        }
    }
    let foreign = non_synthetic_users(client, schema).await?;
    Ok((non_empty, foreign))
}

/// Users whose email does not start with the literal `syn_` (the synthetic marker).
pub(crate) async fn non_synthetic_users(client: &Client, schema: &str) -> Result<i64> {
    Ok(client
        .query_one(
            &format!(
                "SELECT count(*) FROM {}.\"users\" WHERE NOT starts_with(\"email\", 'syn_')",
                quote_ident(schema)
            ),
            &[],
        )
        .await
        .step("counting non-synthetic users")?
        .get(0))
}

/// Foreign keys of tables other than `tables` (the chat tables and the
/// declared child tables) into them: (referencing table as `regclass` prints
/// it, constraint name, definition).
pub(crate) async fn foreign_keys_into_chat(
    client: &impl tokio_postgres::GenericClient,
    schema: &str,
    tables: &[String],
) -> Result<Vec<(String, String, String)>> {
    Ok(client
        .query(CATALOG_EXTERNAL_FKS_SQL, &[&schema, &tables])
        .await
        .step("reading foreign keys into the chat tables")?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Whether index `name` exists in `schema` and is valid (`Some(false)`: the
/// leftover of an interrupted concurrent build).
pub(crate) async fn index_validity(
    client: &Client,
    schema: &str,
    name: &str,
) -> Result<Option<bool>> {
    Ok(client
        .query_opt(
            "SELECT x.indisvalid FROM pg_index AS x JOIN pg_class AS i ON i.oid = x.indexrelid \
             JOIN pg_namespace AS n ON n.oid = i.relnamespace WHERE n.nspname = $1 AND i.relname = $2",
            &[&schema, &name],
        )
        .await
        .step(format!("checking index {name}"))?
        .map(|r| r.get::<_, bool>(0)))
}

/// The on-disk size of an index, `qualified` as `"schema"."name"`.
pub(crate) async fn index_size_bytes(client: &Client, qualified: &str, name: &str) -> Result<i64> {
    Ok(client
        .query_one("SELECT pg_relation_size($1::text::regclass)", &[&qualified])
        .await
        .step(format!("reading the size of index {name}"))?
        .get(0))
}

/// Estimated rows and index names per chat table (from `pg_class`); an error
/// naming the missing tables when the schema lacks any of them.
pub(crate) async fn table_sizes_and_indexes(
    client: &Client,
    schema: &str,
) -> Result<(BTreeMap<String, i64>, BTreeMap<String, Vec<String>>)> {
    let tables = table_names();
    let rows = client
        .query(CATALOG_TABLES_SQL, &[&schema, &tables])
        .await
        .step("reading table sizes and indexes from the catalog")?;
    let mut est = BTreeMap::new();
    let mut idx = BTreeMap::new();
    for r in rows {
        let t: String = r.get(0);
        est.insert(t.clone(), r.get::<_, i64>(1));
        idx.insert(t, r.get::<_, Vec<String>>(2));
    }
    let missing: Vec<&str> = tables
        .iter()
        .map(String::as_str)
        .filter(|t| !est.contains_key(*t))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Config(format!(
            "schema {:?} lacks the chat tables {}: load a dataset first (chatsynth load)",
            schema,
            missing.join(", ")
        )));
    }
    Ok((est, idx))
}
