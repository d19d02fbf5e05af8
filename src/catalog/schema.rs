//! The chat tables' shape in the target: created from `sql/schema.sql` when
//! the schema has none, and compared (the preflight) with what the generators
//! write before anything is written.

use tokio_postgres::{Client, GenericClient, Transaction};

use super::{existing_tables, table_names};
use crate::db::quote_ident;
use crate::error::{DbContext, Error, Result};
use crate::model::{ColType, Table};

const SCHEMA_SQL: &str = include_str!("../../sql/schema.sql");
const CATALOG_COLUMNS_SQL: &str = include_str!("../../sql/catalog/columns.sql");
const CATALOG_ENUMS_SQL: &str = include_str!("../../sql/catalog/enums.sql");

/// Creates the schema (if missing) and the tables from `sql/schema.sql` in a
/// transaction it returns uncommitted: the caller runs its preflight inside
/// it and commits only when that passes, so a refused run creates nothing.
pub(crate) async fn create_tables<'c>(
    client: &'c mut Client,
    schema: &str,
) -> Result<Transaction<'c>> {
    let tx = client.transaction().await.step("creating the tables")?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {s}; SET LOCAL search_path TO {s};",
        s = quote_ident(schema)
    ))
    .await
    .step("creating the target schema")?;
    tx.batch_execute(SCHEMA_SQL)
        .await
        .step("applying sql/schema.sql")?;
    Ok(tx)
}

/// Every enum type visible from `schema` (its own, then public) with its
/// labels in the enum's order (`enumsortorder`).
pub(crate) async fn enum_types(
    client: &impl GenericClient,
    schema: &str,
) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
    let mut types = std::collections::BTreeMap::<String, Vec<String>>::new();
    for r in client
        .query(CATALOG_ENUMS_SQL, &[&schema])
        .await
        .step("reading the target's enum types")?
    {
        let labels = types.entry(r.get(0)).or_default();
        if let Some(l) = r.get::<_, Option<String>>(1) {
            labels.push(l);
        }
    }
    Ok(types)
}

/// Compares the target schema with what the generators write and returns every
/// mismatch at once: missing tables or columns, wrong types or nullability,
/// missing enum labels, and NOT NULL columns without a default that the
/// generator does not fill. Unknown nullable or defaulted columns are fine.
pub(crate) async fn preflight(
    client: &impl GenericClient,
    schema: &str,
    rules: &std::collections::BTreeMap<String, crate::rules::RuleSpec>,
) -> Result<()> {
    let mut problems = Vec::new();
    let present = existing_tables(client, schema).await?;
    for t in Table::ALL {
        if !present.iter().any(|p| p == t.name()) {
            problems.push(format!("table {schema}.{} is missing", t.name()));
        }
    }
    // The chat tables, and the declared tables some rule names.
    let mut names = table_names();
    for key in rules.keys() {
        if let Some((table, _)) = key.split_once('.') {
            if !names.iter().any(|n| n == table) {
                names.push(table.to_string());
            }
        }
    }
    let cols = client
        .query(CATALOG_COLUMNS_SQL, &[&schema, &names])
        .await
        .step("reading the target's columns")?;
    // (table, column, type, not null, has default)
    let cols: Vec<(String, String, String, bool, bool)> = cols
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    let enums = client
        .query(CATALOG_ENUMS_SQL, &[&schema])
        .await
        .step("reading the target's enum types")?;
    let enum_labels = |name: &str| -> Option<Vec<String>> {
        let labels: Vec<String> = enums
            .iter()
            .filter(|r| r.get::<_, String>(0) == name)
            .filter_map(|r| r.get::<_, Option<String>>(1))
            .collect();
        enums
            .iter()
            .any(|r| r.get::<_, String>(0) == name)
            .then_some(labels)
    };
    for t in Table::ALL {
        if !present.iter().any(|p| p == t.name()) {
            continue;
        }
        let here: Vec<_> = cols.iter().filter(|c| c.0 == t.name()).collect();
        for c in t.columns() {
            let Some(found) = here.iter().find(|x| x.1 == c.name) else {
                problems.push(format!("column {}.\"{}\" is missing", t.name(), c.name));
                continue;
            };
            let ty_ok = match c.ty {
                ColType::Enum(name, labels) => {
                    let ok = found.2 == quote_ident(name) || found.2 == name;
                    if ok {
                        match enum_labels(name) {
                            Some(have) => {
                                for l in labels {
                                    if !have.iter().any(|h| h == l) {
                                        problems.push(format!(
                                            "enum \"{name}\" lacks the label '{l}' (used by {}.\"{}\")",
                                            t.name(),
                                            c.name
                                        ));
                                    }
                                }
                            }
                            None => problems.push(format!("enum type \"{name}\" is missing")),
                        }
                    }
                    ok
                }
                ColType::Timestamp => {
                    found.2.starts_with("timestamp(") && found.2.ends_with("without time zone")
                        || found.2 == "timestamp without time zone"
                }
                other => found.2 == other.sql(),
            };
            if !ty_ok {
                problems.push(format!(
                    "column {}.\"{}\" has type {} but chatsynth writes {}",
                    t.name(),
                    c.name,
                    found.2,
                    c.ty.sql()
                ));
            }
        }
        for x in &here {
            let known = t.columns().iter().any(|c| c.name == x.1)
                || rules.contains_key(&format!("{}.{}", t.name(), x.1));
            if !known && x.3 && !x.4 {
                problems.push(format!(
                    "column {}.\"{}\" is NOT NULL without a default, and chatsynth does not fill it",
                    t.name(),
                    x.1
                ));
            }
        }
    }
    // Column rules: each names a column the target has, of a fitting type.
    problems.extend(crate::rules::check_target(rules, |table, column| {
        let c = cols.iter().find(|c| c.0 == table && c.1 == column)?;
        let name = c.2.trim_matches('"');
        let labels = enum_labels(name);
        Some(crate::rules::TargetColumn {
            ty: crate::rules::PgType::of_catalog(&c.2, labels.is_some(), name),
            enum_labels: labels.unwrap_or_default(),
        })
    }));
    problems.extend(super::privileges::privilege_problems(client, schema).await?);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::SchemaDrift(problems))
    }
}
