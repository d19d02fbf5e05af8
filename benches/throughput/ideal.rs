//! The ideal the load is measured against: bare tables filled by the server's
//! own `COPY t FROM 'file'`, then the schema's indexes, constraints and
//! foreign keys built one after another, then ANALYZE; and the messages
//! reference (server COPY of messages alone).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use tokio_postgres::Client;

use chatsynth::model::Table;

use crate::pg::{pg_err, q};
use crate::R;

const SCHEMA_SQL: &str = include_str!("../../sql/schema.sql");

/// The ideal's DDL, read from a template schema built from sql/schema.sql.
pub struct IdealDdl {
    /// (table, name, statement) for PK/unique constraints and plain indexes.
    indexes: Vec<(String, String, String)>,
    /// (table, name, statement)
    foreign_keys: Vec<(String, String, String)>,
}

/// Builds the template schema `tpl` from sql/schema.sql and reads its DDL,
/// pointed at the ideal's schema `dst`.
pub async fn ideal_ddl(c: &Client, tpl: &str, dst: &str) -> R<IdealDdl> {
    c.batch_execute(&format!(
        "CREATE SCHEMA {t}; SET search_path TO {t}; {SCHEMA_SQL}; RESET search_path;",
        t = q(tpl)
    ))
    .await?;
    let names: Vec<String> = Table::ALL.iter().map(|t| t.name().to_string()).collect();
    Ok(IdealDdl {
        indexes: index_statements(c, tpl, dst, &names).await?,
        foreign_keys: foreign_key_statements(c, tpl, dst, &names).await?,
    })
}

/// PK/unique constraints (first) and plain indexes of `tpl`'s tables, as
/// statements on `dst`'s.
async fn index_statements(
    c: &Client,
    tpl: &str,
    dst: &str,
    names: &[String],
) -> R<Vec<(String, String, String)>> {
    let rows = c
        .query(
            "SELECT c.relname::text, i.relname::text, pg_get_indexdef(x.indexrelid), \
                    con.conname::text, pg_get_constraintdef(con.oid) \
             FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid \
             JOIN pg_class i ON i.oid = x.indexrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid \
                  AND con.contype IN ('p','u') \
             WHERE n.nspname = $1 AND c.relname = ANY($2) \
             ORDER BY array_position($2, c.relname::text), con.conname IS NULL, i.relname",
            &[&tpl, &names],
        )
        .await?;
    let mut indexes = Vec::with_capacity(rows.len());
    for r in &rows {
        let (table, index): (String, String) = (r.get(0), r.get(1));
        let stmt = match r.get::<_, Option<String>>(3) {
            Some(con) => format!(
                "ALTER TABLE {}.{} ADD CONSTRAINT {} {}",
                q(dst),
                q(&table),
                q(&con),
                r.get::<_, String>(4)
            ),
            None => {
                let def: String = r.get(2);
                let using = def
                    .find(" USING ")
                    .ok_or("index definition without USING")?;
                let head = &def[..def.find(" INDEX ").ok_or("not an index")?];
                format!(
                    "{head} INDEX {} ON {}.{}{}",
                    q(&index),
                    q(dst),
                    q(&table),
                    &def[using..]
                )
            }
        };
        indexes.push((table, index, stmt));
    }
    Ok(indexes)
}

/// The foreign keys of `tpl`'s tables, as statements on `dst`'s.
async fn foreign_key_statements(
    c: &Client,
    tpl: &str,
    dst: &str,
    names: &[String],
) -> R<Vec<(String, String, String)>> {
    let rows = c
        .query(
            "SELECT c.relname::text, con.conname::text, pg_get_constraintdef(con.oid) \
             FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND con.contype = 'f' \
             ORDER BY array_position($2, c.relname::text), con.conname",
            &[&tpl, &names],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let (table, name, def): (String, String, String) = (r.get(0), r.get(1), r.get(2));
            // The definition names the template schema (a plain identifier,
            // so unquoted): point it at the ideal's tables.
            let def = def.replace(
                &format!("REFERENCES {tpl}."),
                &format!("REFERENCES {}.", q(dst)),
            );
            let stmt = format!(
                "ALTER TABLE {}.{} ADD CONSTRAINT {} {def}",
                q(dst),
                q(&table),
                q(&name)
            );
            (table, name, stmt)
        })
        .collect())
}

async fn bare_tables(c: &Client, tpl: &str, dst: &str, tables: &[Table]) -> R<()> {
    c.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", q(dst)))
        .await?;
    for t in tables {
        c.batch_execute(&format!(
            "DROP TABLE IF EXISTS {d}.{n}; CREATE TABLE {d}.{n} (LIKE {s}.{n} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
            d = q(dst),
            s = q(tpl),
            n = q(t.name())
        ))
        .await?;
    }
    Ok(())
}

fn server_copy_sql(t: Table, schema: &str, file: &Path) -> String {
    t.copy_sql(schema).replace(
        "FROM STDIN",
        &format!("FROM '{}'", file.display().to_string().replace('\'', "''")),
    )
}

#[derive(Default)]
pub struct IdealRun {
    pub copy_ms: BTreeMap<String, f64>,
    pub builds: Vec<(String, f64)>,
    pub indexes_ms: f64,
    pub foreign_keys_ms: f64,
    pub analyze_ms: f64,
    pub total_ms: f64,
}

/// One repeat of the ideal, in a scratch schema dropped afterwards.
pub async fn run_ideal(c: &Client, ddl: &IdealDdl, files: &Path, mwm: &str) -> R<IdealRun> {
    let dst = "ideal";
    c.batch_execute(&format!(
        "DROP SCHEMA IF EXISTS {d} CASCADE; SET maintenance_work_mem = '{mwm}'",
        d = q(dst)
    ))
    .await?;
    bare_tables(c, "tpl", dst, &Table::ALL).await?;
    let mut r = IdealRun {
        copy_ms: copy_files(c, dst, files).await?,
        ..IdealRun::default()
    };
    r.indexes_ms = build_all(c, &ddl.indexes, &mut r.builds).await?;
    r.foreign_keys_ms = build_all(c, &ddl.foreign_keys, &mut r.builds).await?;
    r.analyze_ms = analyze(c, dst).await?;
    r.total_ms = r.copy_ms.values().sum::<f64>() + r.indexes_ms + r.foreign_keys_ms + r.analyze_ms;
    c.batch_execute(&format!("DROP SCHEMA {} CASCADE", q(dst)))
        .await?;
    Ok(r)
}

fn ms_since(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1e3
}

/// Server-side COPY of every table's file; milliseconds per table.
async fn copy_files(c: &Client, dst: &str, files: &Path) -> R<BTreeMap<String, f64>> {
    let mut copy_ms = BTreeMap::new();
    for t in Table::ALL {
        let t0 = Instant::now();
        c.batch_execute(&server_copy_sql(
            t,
            dst,
            &chatsynth::generate::file_for(files, t),
        ))
        .await?;
        copy_ms.insert(t.name().into(), ms_since(t0));
    }
    Ok(copy_ms)
}

/// Runs `(table, name, statement)`s one after another, each timed into
/// `builds`; returns the milliseconds of all.
async fn build_all(
    c: &Client,
    stmts: &[(String, String, String)],
    builds: &mut Vec<(String, f64)>,
) -> R<f64> {
    let t0 = Instant::now();
    for (_, name, stmt) in stmts {
        let t = Instant::now();
        c.batch_execute(stmt)
            .await
            .map_err(|e| format!("{stmt}: {}", pg_err(&e)))?;
        builds.push((name.clone(), ms_since(t)));
    }
    Ok(ms_since(t0))
}

async fn analyze(c: &Client, dst: &str) -> R<f64> {
    let t0 = Instant::now();
    let names: Vec<String> = Table::ALL
        .iter()
        .map(|t| format!("{}.{}", q(dst), q(t.name())))
        .collect();
    c.batch_execute(&format!("ANALYZE {}", names.join(", ")))
        .await?;
    Ok(ms_since(t0))
}

/// Server-side COPY of messages.pgcopy alone into a fresh bare messages table.
pub async fn run_messages_ref(c: &Client, files: &Path) -> R<f64> {
    bare_tables(c, "tpl", "ref", &[Table::Messages]).await?;
    let t0 = Instant::now();
    c.batch_execute(&server_copy_sql(
        Table::Messages,
        "ref",
        &chatsynth::generate::file_for(files, Table::Messages),
    ))
    .await?;
    let ms = ms_since(t0);
    c.batch_execute("DROP SCHEMA ref CASCADE").await?;
    Ok(ms)
}
