//! Schema work around a load: the preflight that compares the target with what
//! the generators write, the staging schema the data is loaded into (bare
//! tables, no secondary indexes or foreign keys), the deferred builds of
//! exactly the indexes and constraints the target has (read from its catalog),
//! and the swap that replaces the target tables in one short transaction.
//!
//! The target is never written before the swap: a failed, interrupted or
//! killed load leaves it as it was, and the next run drops the leftovers.

use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::db::{quote_ident, Target};
use crate::error::{DbContext, Error, Result};
use crate::model::{ColType, Table};

const SCHEMA_SQL: &str = include_str!("../../sql/schema.sql");
const CATALOG_COLUMNS_SQL: &str = include_str!("../../sql/catalog/columns.sql");
const CATALOG_ENUMS_SQL: &str = include_str!("../../sql/catalog/enums.sql");
const CATALOG_INDEXES_SQL: &str = include_str!("../../sql/catalog/indexes.sql");
const CATALOG_FOREIGN_KEYS_SQL: &str = include_str!("../../sql/catalog/foreign_keys.sql");
const CATALOG_PRIVILEGES_SQL: &str = include_str!("../../sql/catalog/privileges.sql");
const CATALOG_EXTERNAL_FKS_SQL: &str = include_str!("../../sql/catalog/external_fks.sql");
const STAGE_SESSIONS_SQL: &str = include_str!("../../sql/catalog/stage_sessions.sql");
const LEDGER_CREATE_SQL: &str = include_str!("../../sql/ledger/create.sql");
const LEDGER_ABANDON_SQL: &str = include_str!("../../sql/ledger/abandon.sql");
const LEDGER_START_SQL: &str = include_str!("../../sql/ledger/start.sql");
const LEDGER_FINISH_SQL: &str = include_str!("../../sql/ledger/finish.sql");

pub fn table_names() -> Vec<String> {
    Table::ALL.iter().map(|t| t.name().to_string()).collect()
}

/// The staging schema of a target schema (deterministic, so leftovers of a
/// killed run are found and dropped by the next one).
pub fn stage_schema(target_schema: &str) -> String {
    format!("cs_stage_{target_schema}")
}

/// Advisory lock key of a target schema: one chatsynth writer per schema.
pub fn lock_key(target_schema: &str) -> String {
    format!("chatsynth:{target_schema}")
}

pub async fn try_lock(client: &Client, schema: &str) -> Result<()> {
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
pub async fn existing_tables(client: &Client, schema: &str) -> Result<Vec<String>> {
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

/// Creates the schema (if missing) and the tables from `sql/schema.sql`, in
/// one transaction.
pub async fn create_tables(client: &mut Client, schema: &str) -> Result<()> {
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
    tx.commit().await.step("committing the new tables")
}

/// Compares the target schema with what the generators write and returns every
/// mismatch at once: missing tables or columns, wrong types or nullability,
/// missing enum labels, and NOT NULL columns without a default that the
/// generator does not fill. Unknown nullable or defaulted columns are fine.
pub async fn preflight(client: &Client, schema: &str) -> Result<()> {
    let mut problems = Vec::new();
    let present = existing_tables(client, schema).await?;
    for t in Table::ALL {
        if !present.iter().any(|p| p == t.name()) {
            problems.push(format!("table {schema}.{} is missing", t.name()));
        }
    }
    let cols = client
        .query(CATALOG_COLUMNS_SQL, &[&schema, &table_names()])
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
            let known = t.columns().iter().any(|c| c.name == x.1);
            if !known && x.3 && !x.4 {
                problems.push(format!(
                    "column {}.\"{}\" is NOT NULL without a default, and chatsynth does not fill it",
                    t.name(),
                    x.1
                ));
            }
        }
    }
    problems.extend(privilege_problems(client, schema).await?);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::SchemaDrift(problems))
    }
}

/// What the connected role lacks to create the staging schema and replace the tables.
pub async fn privilege_problems(client: &Client, schema: &str) -> Result<Vec<String>> {
    let rows = client
        .query(CATALOG_PRIVILEGES_SQL, &[&schema, &table_names()])
        .await
        .step("checking privileges")?;
    let mut problems = Vec::new();
    for r in rows {
        let (what, name, ok): (String, String, bool) = (r.get(0), r.get(1), r.get(2));
        if !ok {
            problems.push(match what.as_str() {
                "database" => format!(
                    "the role cannot CREATE schemas in database {name} (needed for the staging schema)"
                ),
                "schema" => format!("the role cannot CREATE in schema {name}"),
                _ => format!("the role does not own table {schema}.{name}, so it cannot replace it"),
            });
        }
    }
    Ok(problems)
}

/// The run ledger (`chatsynth_runs` in the target schema).
pub mod ledger {
    use super::*;

    /// Creates the ledger if needed, marks runs left RUNNING by killed processes
    /// as FAILED (we hold the schema's lock, so none of them is alive), and
    /// records this run as RUNNING.
    pub async fn start(
        client: &Client,
        run_id: &str,
        command: &str,
        band: &str,
        seed: u64,
        digest: &str,
    ) -> Result<()> {
        client
            .batch_execute(LEDGER_CREATE_SQL)
            .await
            .step("creating the run ledger chatsynth_runs")?;
        client
            .execute(LEDGER_ABANDON_SQL, &[])
            .await
            .step("marking abandoned runs in chatsynth_runs")?;
        client
            .execute(
                LEDGER_START_SQL,
                &[&run_id, &command, &band, &(seed as i64), &digest],
            )
            .await
            .step("recording the run in chatsynth_runs")?;
        Ok(())
    }

    /// Records the end of a run (`COMPLETED` goes inside the swap's transaction).
    pub async fn finish(
        client: &impl tokio_postgres::GenericClient,
        run_id: &str,
        status: &str,
        rows: &serde_json::Value,
        error: Option<&str>,
    ) -> Result<()> {
        client
            .execute(
                LEDGER_FINISH_SQL,
                &[&run_id, &status, &rows.to_string(), &error],
            )
            .await
            .step("recording the run's end in chatsynth_runs")?;
        Ok(())
    }
}

/// Tables of the seven that hold at least one row, and whether any user row is
/// not synthetic (email not starting with the literal `syn_`).
pub async fn occupancy(client: &Client, schema: &str) -> Result<(Vec<String>, i64)> {
    let mut non_empty = Vec::new();
    for t in Table::ALL {
        let row = client
            .query_one(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM {}.{})",
                    quote_ident(schema),
                    quote_ident(t.name())
                ),
                &[],
            )
            .await
            .step(format!("checking whether {} is empty", t.name()))?;
        if row.get::<_, bool>(0) {
            non_empty.push(t.name().to_string());
        }
    }
    let foreign = non_synthetic_users(client, schema).await?;
    Ok((non_empty, foreign))
}

/// Users whose email does not start with the literal `syn_` (the synthetic marker).
pub async fn non_synthetic_users(client: &Client, schema: &str) -> Result<i64> {
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

/// An index (or a constraint backed by one) to build after the load.
#[derive(Debug, Clone)]
pub struct IndexDdl {
    pub table: String,
    pub name: String,
    /// `CREATE ... INDEX` statement targeting the staging schema.
    pub create: String,
    /// `p` or `u` when the index backs a constraint of that name.
    pub constraint: Option<char>,
}

#[derive(Debug, Clone)]
pub struct ForeignKeyDdl {
    pub table: String,
    pub name: String,
    pub definition: String,
}

/// Everything to rebuild on the staging tables, read from the target's catalog.
#[derive(Debug, Clone, Default)]
pub struct Deferred {
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

pub async fn read_deferred(client: &Client, schema: &str) -> Result<Deferred> {
    let stage = stage_schema(schema);
    let mut d = Deferred::default();
    for r in client
        .query(CATALOG_INDEXES_SQL, &[&schema, &table_names()])
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
        .query(CATALOG_FOREIGN_KEYS_SQL, &[&schema, &table_names()])
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

/// Drops leftovers of an earlier run and creates bare copies of the target
/// tables (columns, defaults, NOT NULL and CHECK constraints; no indexes, no
/// foreign keys) in the staging schema.
pub async fn create_stage(client: &Client, target: &Target) -> Result<String> {
    drop_stage(client, &target.schema).await?;
    let stage = stage_schema(&target.schema);
    let (s, t) = (quote_ident(&stage), quote_ident(&target.schema));
    let mut sql = format!("CREATE SCHEMA {s};");
    for table in Table::ALL {
        let q = quote_ident(table.name());
        sql.push_str(&format!(
            "CREATE TABLE {s}.{q} (LIKE {t}.{q} INCLUDING DEFAULTS INCLUDING CONSTRAINTS \
             INCLUDING GENERATED INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMPRESSION);"
        ));
    }
    client
        .batch_execute(&format!("BEGIN; {sql} COMMIT;"))
        .await
        .step("creating the staging tables")?;
    Ok(stage)
}

/// Drops the staging schema, first terminating the sessions still working in
/// it (a killed run's index builds, an interrupted run's in-flight queries),
/// which would otherwise make the DROP wait for them.
pub async fn drop_stage(client: &Client, target_schema: &str) -> Result<()> {
    let stage = stage_schema(target_schema);
    match client.query(STAGE_SESSIONS_SQL, &[&stage]).await {
        Ok(rows) if !rows.is_empty() => {
            let pids: Vec<String> = rows
                .iter()
                .map(|r| r.get::<_, i32>(0).to_string())
                .collect();
            crate::progress::note(&format!(
                "terminated {} session(s) still working in the staging schema {stage} (pid {})",
                pids.len(),
                pids.join(", ")
            ));
        }
        Ok(_) => {}
        // Not fatal: the DROP below then waits (lock_timeout) as it would have.
        Err(e) => crate::progress::warn(&format!(
            "could not stop the sessions working in {stage}: {}",
            crate::error::pg_message(&e)
        )),
    }
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            quote_ident(&stage_schema(target_schema))
        ))
        .await
        .step("dropping the staging schema")
}

/// Turns built unique indexes into the constraints they back.
pub fn attach_constraint_sql(stage: &str, ix: &IndexDdl) -> Option<String> {
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
/// the staging tables first (search_path stage, target).
pub fn foreign_key_sql(stage: &str, fk: &ForeignKeyDdl) -> String {
    format!(
        "ALTER TABLE {}.{} ADD CONSTRAINT {} {}",
        quote_ident(stage),
        quote_ident(&fk.table),
        quote_ident(&fk.name),
        fk.definition
    )
}

/// How long an attempt of the swap may wait for its locks: 80% of the
/// server's deadlock_timeout (800 ms by default), within 100 ms..5 s. Below
/// deadlock_timeout, a lock cycle with a reader (a transaction that read
/// messages and is about to read users) is always broken by the swap giving up
/// and retrying, never by the reader getting a deadlock error; and no reader
/// ever waits longer than that behind the swap. (Longer waits were tried: a
/// reader then lost the deadlock check.)
pub fn swap_lock_wait(deadlock_timeout_ms: i64) -> std::time::Duration {
    std::time::Duration::from_millis(
        (deadlock_timeout_ms.saturating_mul(4) / 5).clamp(100, 5_000) as u64,
    )
}
/// How long the swap keeps retrying before the run fails (target untouched).
pub const SWAP_LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// Replaces the target's tables with the staging tables in one transaction:
/// readers see the whole old dataset or the whole new one. Returns how many
/// attempts it took to lock the live tables.
pub async fn swap(
    client: &mut Client,
    target_schema: &str,
    run_id: &str,
    rows: &serde_json::Value,
) -> Result<u32> {
    let external: Vec<(String, String, String)> = client
        .query(CATALOG_EXTERNAL_FKS_SQL, &[&target_schema, &table_names()])
        .await
        .step("reading foreign keys into the chat tables")?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let stage = stage_schema(target_schema);
    let (s, t) = (quote_ident(&stage), quote_ident(target_schema));
    let olds: Vec<String> = Table::ALL
        .iter()
        .map(|x| format!("{t}.{}", quote_ident(x.name())))
        .collect();
    // The locks are taken by one LOCK statement bounded by a statement_timeout
    // (swap_lock_wait), and retried: the swap never holds a lock long while
    // waiting for another, so a reader holding one of the tables (say, a
    // transaction that read messages and is about to read users) waits at most
    // that long behind it instead of deadlocking with it, and so do readers
    // queued behind the swap.
    let mut locked = olds.clone();
    for (table, _, _) in &external {
        if !locked.contains(table) {
            locked.push(table.clone());
        }
    }
    // Attempts alternate the lock order: readers that take the tables one
    // statement at a time in the opposite order (children first) would
    // otherwise meet every attempt halfway and starve the swap.
    let lock_sql = |attempt: u32| {
        let mut order = locked.clone();
        if attempt.is_multiple_of(2) {
            order.reverse();
        }
        format!("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE", order.join(", "))
    };
    let mut sql = "SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = '5s';".to_string();
    for (table, name, _) in &external {
        sql.push_str(&format!(
            "ALTER TABLE {table} DROP CONSTRAINT {};",
            quote_ident(name)
        ));
    }
    sql.push_str(&format!("DROP TABLE {};", olds.join(", ")));
    for x in Table::ALL {
        sql.push_str(&format!(
            "ALTER TABLE {s}.{} SET SCHEMA {t};",
            quote_ident(x.name())
        ));
    }
    sql.push_str(&format!("DROP SCHEMA {s};"));
    for (table, name, def) in &external {
        sql.push_str(&format!(
            "ALTER TABLE {table} ADD CONSTRAINT {} {def};",
            quote_ident(name)
        ));
    }
    let deadlock_timeout_ms: i64 = client
        .query_one(
            "SELECT setting::int8 FROM pg_settings WHERE name = 'deadlock_timeout'",
            &[],
        )
        .await
        .step("reading deadlock_timeout")?
        .get(0);
    let wait = swap_lock_wait(deadlock_timeout_ms);
    let started = std::time::Instant::now();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let tx = client.transaction().await.step("starting the swap")?;
        tx.batch_execute(&format!(
            "SET LOCAL statement_timeout = '{}ms'",
            wait.as_millis()
        ))
        .await
        .step("starting the swap")?;
        if let Err(e) = tx.batch_execute(&lock_sql(attempts)).await {
            let busy = matches!(
                e.code(),
                Some(c) if *c == SqlState::QUERY_CANCELED
                    || *c == SqlState::LOCK_NOT_AVAILABLE
                    || *c == SqlState::T_R_DEADLOCK_DETECTED
            );
            let _ = tx.rollback().await;
            if busy && started.elapsed() < SWAP_LOCK_PATIENCE {
                tokio::time::sleep(std::time::Duration::from_millis(
                    50 * u64::from(attempts.min(10)),
                ))
                .await;
                continue;
            }
            return Err(Error::db(
                format!(
                    "locking the live tables for the swap ({attempts} attempts in {:.1}s; other sessions kept them busy)",
                    started.elapsed().as_secs_f64()
                ),
                e,
            ));
        }
        tx.batch_execute(&sql)
            .await
            .step("swapping the new tables into the target schema")?;
        ledger::finish(&tx, run_id, "COMPLETED", rows, None).await?;
        tx.commit().await.step("committing the swap")?;
        return Ok(attempts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn swap_lock_wait_stays_below_deadlock_timeout() {
        let ms: Vec<u128> = [1000, 200, 50, 60_000]
            .iter()
            .map(|&d| swap_lock_wait(d).as_millis())
            .collect();
        assert_eq!(ms, [800, 160, 100, 5000]);
    }
}
