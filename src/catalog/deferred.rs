//! The indexes and constraints of the target tables, read from its catalog and
//! rebuilt on the staging tables after the load (bare tables load faster).

use tokio_postgres::Client;

use super::stage::stage_schema;
use crate::db::quote_ident;
use crate::error::{DbContext, Error, Result};

const CATALOG_INDEXES_SQL: &str = include_str!("../../sql/catalog/indexes.sql");
const CATALOG_FOREIGN_KEYS_SQL: &str = include_str!("../../sql/catalog/foreign_keys.sql");

/// An index (or a constraint backed by one) to build after the load.
#[derive(Debug, Clone)]
pub(crate) struct IndexDdl {
    pub table: String,
    pub name: String,
    /// `CREATE ... INDEX` statement targeting the staging schema.
    pub create: String,
    /// `p` or `u` when the index backs a constraint of that name.
    pub constraint: Option<char>,
}

#[derive(Debug, Clone)]
pub(crate) struct ForeignKeyDdl {
    pub table: String,
    pub name: String,
    pub definition: String,
}

/// Everything to rebuild on the staging tables, read from the target's catalog.
#[derive(Debug, Clone, Default)]
pub(crate) struct Deferred {
    pub indexes: Vec<IndexDdl>,
    pub foreign_keys: Vec<ForeignKeyDdl>,
}

/// Rewrites `CREATE [UNIQUE] INDEX name ON qualified.table USING ...` to build
/// the same index on the staging table.
fn retarget_index(def: &str, name: &str, stage: &str, table: &str) -> Option<String> {
    let on = def.find(" ON ")?;
    let using = on + def[on..].find(" USING ")?;
    let head = &def[..def.find(" INDEX ")?];
    Some(format!(
        "{head} INDEX {} ON {}.{}{}",
        quote_ident(name),
        quote_ident(stage),
        quote_ident(table),
        &def[using..]
    ))
}

/// Reads the target tables' indexes (and the constraints they back) and
/// foreign keys; the index definitions are rewritten to build on the staging
/// tables.
pub(crate) async fn read_deferred(
    client: &Client,
    schema: &str,
    tables: &[String],
) -> Result<Deferred> {
    let stage = stage_schema(schema);
    let mut d = Deferred::default();
    for r in client
        .query(CATALOG_INDEXES_SQL, &[&schema, &tables])
        .await
        .step("reading the target's indexes")?
    {
        let (table, name, def): (String, String, String) = (r.get(0), r.get(1), r.get(2));
        let contype: Option<i8> = r.get(3);
        let create = retarget_index(&def, &name, &stage, &table).ok_or_else(|| {
            Error::Other(format!("cannot read the definition of index {name}: {def}"))
        })?;
        d.indexes.push(IndexDdl {
            table,
            name,
            create,
            constraint: contype.map(|c| c as u8 as char),
        });
    }
    for r in client
        .query(CATALOG_FOREIGN_KEYS_SQL, &[&schema, &tables])
        .await
        .step("reading the target's foreign keys")?
    {
        d.foreign_keys.push(ForeignKeyDdl {
            table: r.get(0),
            name: r.get(1),
            definition: r.get(2),
        });
    }
    Ok(d)
}

/// Turns built unique indexes into the constraints they back.
pub(crate) fn attach_constraint_sql(stage: &str, ix: &IndexDdl) -> Option<String> {
    let kind = match ix.constraint? {
        'p' => "PRIMARY KEY",
        'u' => "UNIQUE",
        _ => return None,
    };
    Some(format!(
        "ALTER TABLE {}.{} ADD CONSTRAINT {} {kind} USING INDEX {}",
        quote_ident(stage),
        quote_ident(&ix.table),
        quote_ident(&ix.name),
        quote_ident(&ix.name)
    ))
}

/// The foreign key, on the staging table; unqualified references resolve to
/// the staging tables first (search_path stage, target). With `not_valid`
/// the key is added without checking the rows (the load validates it after).
pub(crate) fn foreign_key_sql(stage: &str, fk: &ForeignKeyDdl, not_valid: bool) -> String {
    let suffix = if not_valid && !fk.is_not_valid() {
        " NOT VALID"
    } else {
        ""
    };
    format!(
        "ALTER TABLE {}.{} ADD CONSTRAINT {} {}{suffix}",
        quote_ident(stage),
        quote_ident(&fk.table),
        quote_ident(&fk.name),
        fk.definition
    )
}

impl ForeignKeyDdl {
    /// The key is `NOT VALID` in the target (`pg_get_constraintdef` says so).
    pub fn is_not_valid(&self) -> bool {
        self.definition.trim_end().ends_with("NOT VALID")
    }
}

impl Deferred {
    /// Whether the target holds this foreign key `NOT VALID`, so the stage
    /// keeps it unvalidated too.
    pub fn not_valid_in_target(&self, table: &str, name: &str) -> bool {
        self.foreign_keys
            .iter()
            .any(|fk| fk.table == table && fk.name == name && fk.is_not_valid())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_keys_are_added_not_valid_unless_the_target_says_so() {
        let fk = ForeignKeyDdl {
            table: "message_reads".into(),
            name: "message_reads_messageId_fkey".into(),
            definition: "FOREIGN KEY (\"messageId\") REFERENCES messages(id) ON DELETE CASCADE"
                .into(),
        };
        let sql = foreign_key_sql("st", &fk, true);
        assert!(sql.ends_with("ON DELETE CASCADE NOT VALID"), "{sql}");
        assert!(!foreign_key_sql("st", &fk, false).contains("NOT VALID"));
        let lax = ForeignKeyDdl {
            definition: format!("{} NOT VALID", fk.definition),
            ..fk.clone()
        };
        assert!(!foreign_key_sql("st", &lax, true).contains("NOT VALID NOT VALID"));
        let d = Deferred {
            indexes: vec![],
            foreign_keys: vec![fk, lax.clone()],
        };
        assert!(!d.not_valid_in_target("message_reads", "x"));
        let d2 = Deferred {
            indexes: vec![],
            foreign_keys: vec![lax],
        };
        assert!(d2.not_valid_in_target("message_reads", "message_reads_messageId_fkey"));
    }

    #[test]
    fn index_definitions_are_retargeted() {
        let def = "CREATE UNIQUE INDEX users_email_key ON public.users USING btree (email)";
        assert_eq!(
            retarget_index(def, "users_email_key", "cs_stage_public", "users").unwrap(),
            "CREATE UNIQUE INDEX \"users_email_key\" ON \"cs_stage_public\".\"users\" USING btree (email)"
        );
        let def = "CREATE INDEX \"messages_conversationId_createdAt_idx\" ON \"my-s\".messages USING btree (\"conversationId\", \"createdAt\" DESC) INCLUDE (id) WHERE (\"isDeleted\" = false)";
        let out = retarget_index(
            def,
            "messages_conversationId_createdAt_idx",
            "st",
            "messages",
        )
        .unwrap();
        assert!(out.starts_with("CREATE INDEX \"messages_conversationId_createdAt_idx\" ON \"st\".\"messages\" USING btree (\"conversationId\", \"createdAt\" DESC) INCLUDE (id) WHERE"));
    }
}
