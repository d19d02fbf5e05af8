//! The whole target schema as `chatsynth schema check` judges it: every
//! column of every table, the foreign keys of other tables into the chat
//! tables, the enum types and what the role lacks. Catalog queries only, plus
//! one `EXISTS` per table that has a key into the chat tables.

use tokio_postgres::Client;

use crate::db::quote_ident;
use crate::error::{DbContext, Result};

const TABLE_COLUMNS_SQL: &str = include_str!("../../sql/catalog/table_columns.sql");
const FKS_INTO_CHAT_SQL: &str = include_str!("../../sql/catalog/fks_into_chat.sql");
const ENUMS_SQL: &str = include_str!("../../sql/catalog/enums.sql");

/// One column as the catalog describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogColumn {
    pub table: String,
    pub name: String,
    /// As `format_type()` prints it, e.g. `character varying(64)`.
    pub ty: String,
    pub not_null: bool,
    pub default: Option<String>,
    pub identity: bool,
    pub generated: bool,
    /// The type is an enum (its name is `type_name`).
    pub is_enum: bool,
    pub type_name: String,
}

/// A foreign key of another table of the schema into one of the chat tables.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyIntoChat {
    pub table: String,
    pub name: String,
    pub references: String,
    pub columns: Vec<String>,
    /// Every referencing column is NOT NULL: each row must hang off a chat row.
    pub not_null: bool,
    /// Whether the referencing table holds at least one row.
    pub table_has_rows: bool,
}

/// What `check` needs from the database.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub schema: String,
    pub columns: Vec<CatalogColumn>,
    pub keys: Vec<KeyIntoChat>,
    /// Enum type -> labels.
    pub enums: Vec<(String, Vec<String>)>,
    /// What the connected role lacks to load (from the privileges preflight).
    pub privileges: Vec<String>,
}

/// Reads everything `schema check` judges. Catalog queries only, plus one `EXISTS`
/// per table that has a foreign key into the chat tables.
pub async fn read(client: &Client, schema: &str) -> Result<Catalog> {
    let chat = super::table_names();
    let columns = client
        .query(TABLE_COLUMNS_SQL, &[&schema])
        .await
        .step("reading the schema's columns")?
        .iter()
        .map(|r| CatalogColumn {
            table: r.get(0),
            name: r.get(1),
            ty: r.get(2),
            not_null: r.get(3),
            default: r.get(4),
            identity: r.get(5),
            generated: r.get(6),
            is_enum: r.get::<_, String>(7) == "e",
            type_name: r.get(8),
        })
        .collect();
    let mut keys = Vec::new();
    for r in client
        .query(FKS_INTO_CHAT_SQL, &[&schema, &chat])
        .await
        .step("reading the foreign keys into the chat tables")?
    {
        let table: String = r.get(0);
        let has_rows: bool = client
            .query_one(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM {}.{})",
                    quote_ident(schema),
                    quote_ident(&table)
                ),
                &[],
            )
            .await
            .step(format!("checking whether {table} holds rows"))?
            .get(0);
        keys.push(KeyIntoChat {
            table,
            name: r.get(1),
            references: r.get(2),
            columns: r.get(3),
            not_null: r.get(4),
            table_has_rows: has_rows,
        });
    }
    let mut enums: Vec<(String, Vec<String>)> = Vec::new();
    for r in client
        .query(ENUMS_SQL, &[&schema])
        .await
        .step("reading the enum types")?
    {
        let (name, label): (String, Option<String>) = (r.get(0), r.get(1));
        match enums.iter_mut().find(|(n, _)| *n == name) {
            Some((_, l)) => l.extend(label),
            None => enums.push((name, label.into_iter().collect())),
        }
    }
    let privileges = crate::catalog::privileges::privilege_problems(client, schema).await?;
    Ok(Catalog {
        schema: schema.to_string(),
        columns,
        keys,
        enums,
        privileges,
    })
}
