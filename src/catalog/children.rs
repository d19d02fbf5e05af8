//! The child tables declared in the config, checked against the target's
//! catalog before anything is written: the table exists, the columns
//! chatsynth writes exist with types it can encode, the parent column has a
//! foreign key into the declared parent's `id` (and the actor column into
//! `users.id`), and no other NOT NULL column is left without a default.
//! Every problem of every declared table is reported at once.

use std::collections::BTreeMap;

use tokio_postgres::{Client, GenericClient};

use crate::config::tables::{Actor, ChildTable};
use crate::error::{DbContext, Error, Result};

const CHILD_COLUMNS_SQL: &str = include_str!("../../sql/catalog/child_columns.sql");
const CHILD_FKS_SQL: &str = include_str!("../../sql/catalog/child_fks.sql");

/// A column of a declared table, as the catalog describes it.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub name: String,
    /// As `format_type` prints it.
    pub ty: String,
    pub is_enum: bool,
    pub not_null: bool,
    pub has_default: bool,
}

/// A single-column foreign key: (column, referenced table, referenced column).
pub type ForeignKey = (String, String, String);

fn is_string(c: &ColumnInfo) -> bool {
    c.is_enum || c.ty == "text" || c.ty.starts_with("character varying")
}

fn is_timestamp(c: &ColumnInfo) -> bool {
    c.ty.starts_with("timestamp")
}

/// Every problem of declaration `name` against its table's columns and
/// foreign keys (`columns` empty: the table does not exist).
/// `ruled` are the table's columns that column rules fill.
pub fn judge(
    name: &str,
    decl: &ChildTable,
    ruled: &[&str],
    columns: &[ColumnInfo],
    fks: &[ForeignKey],
) -> Vec<String> {
    let at = |s: String| format!("[tables.{name}]: {s}");
    if columns.is_empty() {
        return vec![at(format!(
            "the target has no table {name:?}: create it first (e.g. with your migration), or remove the declaration"
        ))];
    }
    let mut p = Vec::new();
    let col = |c: &str| columns.iter().find(|x| x.name == c);
    let mut need = |c: &str, ok: fn(&ColumnInfo) -> bool, what: &str| match col(c) {
        None => p.push(at(format!("the table has no column {c:?}"))),
        Some(x) if !ok(x) => p.push(at(format!(
            "column {c:?} is {} but chatsynth writes {what} into it",
            x.ty
        ))),
        Some(_) => {}
    };
    if !decl.id_column.is_empty() {
        need(&decl.id_column, is_string, "a text id");
    }
    need(decl.parent_column(), is_string, "the parent's text id");
    if decl.actor != Actor::None {
        need(&decl.actor_column, is_string, "a user's text id");
    }
    if let Some(k) = &decl.key {
        need(&k.column, is_string, "text");
    }
    for t in [&decl.created_column, &decl.updated_column] {
        if !t.is_empty() {
            need(t, is_timestamp, "a timestamp");
        }
    }
    let parent = decl.parent.table();
    let has_fk = |c: &str, table: &str| {
        fks.iter()
            .any(|(fc, ft, fr)| fc == c && ft == table && fr == "id")
    };
    if !has_fk(decl.parent_column(), parent) {
        let into_chat: Vec<String> = fks
            .iter()
            .filter(|(_, t, _)| ["messages", "conversations", "users"].contains(&t.as_str()))
            .map(|(c, t, _)| format!("{c} -> {t}"))
            .collect();
        p.push(at(format!(
            "parent = \"{parent}\" but the table has no foreign key ({}) -> {parent}(id){}",
            decl.parent_column(),
            if into_chat.is_empty() {
                ": a child table needs a foreign key into a chat table".to_string()
            } else {
                format!("; its keys into the chat tables: {}", into_chat.join(", "))
            }
        )));
    }
    if decl.actor != Actor::None && !has_fk(&decl.actor_column, "users") {
        p.push(at(format!(
            "actor column {:?} has no foreign key into users(id)",
            decl.actor_column
        )));
    }
    let written = decl.columns();
    for c in columns {
        let filled = written.contains(&c.name.as_str()) || ruled.contains(&c.name.as_str());
        if c.not_null && !c.has_default && !filled {
            p.push(at(format!(
                "column {:?} is NOT NULL without a default and nothing fills it",
                c.name
            )));
        }
    }
    p
}

/// Refuses when a declared table is missing from the target.
pub async fn require_present(
    client: &Client,
    schema: &str,
    tables: &BTreeMap<String, ChildTable>,
) -> Result<()> {
    let names: Vec<&String> = tables.keys().collect();
    let present: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = ANY($2) AND c.relkind IN ('r', 'p')",
            &[&schema, &names],
        )
        .await
        .step("reading the declared tables")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let missing: Vec<&str> = names
        .iter()
        .filter(|n| !present.contains(n))
        .map(|n| n.as_str())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "the config declares tables the target schema {schema:?} lacks: {}; nothing was changed",
            missing.join(", ")
        )))
    }
}

/// Reads each declared table's columns and foreign keys and refuses the
/// run, listing every problem, when any declaration does not fit (`rules`:
/// the config's column rules, which may fill a declared table's columns).
pub async fn preflight(
    client: &impl GenericClient,
    schema: &str,
    tables: &BTreeMap<String, ChildTable>,
    rules: &BTreeMap<String, crate::rules::RuleSpec>,
) -> Result<()> {
    let mut problems = Vec::new();
    for (name, decl) in tables {
        let ruled: Vec<&str> = rules
            .keys()
            .filter_map(|k| k.split_once('.'))
            .filter(|(t, _)| t == name)
            .map(|(_, c)| c)
            .collect();
        let columns: Vec<ColumnInfo> = client
            .query(CHILD_COLUMNS_SQL, &[&schema, name])
            .await
            .step(format!("reading the columns of {name}"))?
            .iter()
            .map(|r| ColumnInfo {
                name: r.get(0),
                ty: r.get(1),
                is_enum: r.get(2),
                not_null: r.get(3),
                has_default: r.get(4),
            })
            .collect();
        let fks: Vec<ForeignKey> = client
            .query(CHILD_FKS_SQL, &[&schema, name])
            .await
            .step(format!("reading the foreign keys of {name}"))?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        problems.extend(judge(name, decl, &ruled, &columns, &fks));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "the declared child tables do not fit the target schema {schema:?}; nothing was written:\n  - {}",
            problems.join("\n  - ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, ty: &str, not_null: bool) -> ColumnInfo {
        ColumnInfo {
            name: name.into(),
            ty: ty.into(),
            is_enum: false,
            not_null,
            has_default: false,
        }
    }

    fn decl() -> ChildTable {
        toml::from_str(
            "parent = \"messages\"\nrate = 0.2\nkey = { column = \"emoji\", values = [\"x\"] }",
        )
        .unwrap()
    }

    fn fk(c: &str, t: &str) -> ForeignKey {
        (c.into(), t.into(), "id".into())
    }

    #[test]
    fn a_fitting_table_passes_and_every_misfit_is_named() {
        let cols = vec![
            c("id", "text", true),
            c("messageId", "text", true),
            c("userId", "text", true),
            c("emoji", "character varying(16)", true),
            c("createdAt", "timestamp(3) without time zone", true),
            c("updatedAt", "timestamp(3) without time zone", true),
        ];
        let fks = vec![fk("messageId", "messages"), fk("userId", "users")];
        assert!(judge("r", &decl(), &[], &cols, &fks).is_empty());

        let mut bad = cols.clone();
        bad[3].ty = "integer".into();
        bad.push(c("tenantId", "text", true));
        let p = judge("r", &decl(), &[], &bad, &[fk("userId", "users")]);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p.iter().any(|s| s.contains("no foreign key (messageId)")));
        assert!(p.iter().any(|s| s.contains("\"emoji\" is integer")));
        assert!(p.iter().any(|s| s.contains("\"tenantId\" is NOT NULL")));

        let p = judge("r", &decl(), &[], &cols, &[]);
        assert!(
            p[0].contains("needs a foreign key into a chat table"),
            "{p:?}"
        );
        assert!(judge("r", &decl(), &[], &[], &[])[0].contains("has no table"));
    }
}
