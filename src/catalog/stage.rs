//! The staging schema (bare copies of the target tables, loaded first) and the
//! swap that moves its tables into the target schema in one short transaction.

use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::ledger;
use crate::db::{quote_ident, Target};
use crate::error::{DbContext, Error, Result};
use crate::model::Outcome;

const STAGE_SESSIONS_SQL: &str = include_str!("../../sql/catalog/stage_sessions.sql");

/// The staging schema of a target schema (deterministic, so leftovers of a
/// killed run are found and dropped by the next one).
pub(crate) fn stage_schema(target_schema: &str) -> String {
    format!("cs_stage_{target_schema}")
}

/// The stage's own tables: which run it belongs to, and which units of each
/// table are committed (written in the same transaction as their rows).
const RUN_TABLE: &str = "cs_run";
const PROGRESS_TABLE: &str = "cs_progress";
/// The shards of a sharded run: one row per shard started, `done` once all
/// its units are in; when and where (client address, pid) it last started,
/// its rows and per-table fingerprints once done, its error if it failed.
const SHARDS_TABLE: &str = "cs_shards";

/// Drops leftovers of an earlier run and creates bare copies of the target
/// tables (columns, defaults, NOT NULL and CHECK constraints; no indexes, no
/// foreign keys) in the staging schema, with its run and progress tables.
pub(crate) async fn create_stage(
    client: &Client,
    target: &Target,
    tables: &[String],
    run_id: &str,
    digest: &str,
    sharded: bool,
) -> Result<String> {
    drop_stage(client, &target.schema).await?;
    let stage = stage_schema(&target.schema);
    let (s, t) = (quote_ident(&stage), quote_ident(&target.schema));
    let mut sql = format!(
        "CREATE SCHEMA {s}; \
         CREATE TABLE {s}.{RUN_TABLE} (run_id text NOT NULL, config_digest text NOT NULL, \
         sharded bool NOT NULL); \
         INSERT INTO {s}.{RUN_TABLE} VALUES ({}, {}, {sharded}); \
         CREATE TABLE {s}.{PROGRESS_TABLE} (tbl text NOT NULL, unit int4 NOT NULL, \
         rows int8 NOT NULL, fingerprint text NOT NULL, PRIMARY KEY (tbl, unit)); \
         CREATE TABLE {s}.{SHARDS_TABLE} (shard int4 PRIMARY KEY, shards int4 NOT NULL, \
         done bool NOT NULL, started_at timestamptz NOT NULL, finished_at timestamptz, \
         host text NOT NULL, pid int4 NOT NULL, rows int8, fingerprints jsonb, error text);",
        crate::db::quote_literal(run_id),
        crate::db::quote_literal(digest)
    );
    for table in tables {
        let q = quote_ident(table);
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

/// The statement that records a batch's units ($1 table, $2 units, $3 rows
/// and $4 fingerprint per unit) in the stage's progress table.
pub fn progress_insert_sql(stage: &str) -> String {
    format!(
        "INSERT INTO {}.{PROGRESS_TABLE} (tbl, unit, rows, fingerprint) \
         SELECT $1, u, r, f FROM unnest($2::int4[], $3::int8[], $4::text[]) AS x(u, r, f)",
        quote_ident(stage)
    )
}

/// The run id and config digest of the stage a run left behind, if any.
pub async fn stage_run(client: &Client, target_schema: &str) -> Result<Option<(String, String)>> {
    let stage = stage_schema(target_schema);
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2",
            &[&stage, &RUN_TABLE],
        )
        .await
        .step("looking for a stage to resume")?
        .is_some();
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_opt(
            &format!(
                "SELECT run_id, config_digest FROM {}.{RUN_TABLE}",
                quote_ident(&stage)
            ),
            &[],
        )
        .await
        .step("reading the stage's run")?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// The run of the stage left in the schema and whether it is a sharded run
/// (made by `load --prepare`), if there is a stage. A stage made by an older
/// build, without the column, counts as not sharded.
pub async fn stage_kind(client: &Client, target_schema: &str) -> Result<Option<(String, bool)>> {
    if stage_run(client, target_schema).await?.is_none() {
        return Ok(None);
    }
    let row = client
        .query_opt(
            &format!(
                "SELECT run_id, coalesce((to_jsonb(r) ->> 'sharded')::bool, false) FROM {}.{RUN_TABLE} r",
                quote_ident(&stage_schema(target_schema))
            ),
            &[],
        )
        .await
        .step("reading the stage's run")?;
    Ok(row.map(|r| (r.get(0), r.get(1))))
}

/// A stage made by `load --prepare` belongs to a sharded run whose shards may
/// be running on other machines: `cmd` (a whole load, `--prepare`, a
/// `--resume`, a refresh, a clean) would drop or take over their work. Refused
/// (nothing written) unless `abandon` names that run and `may_abandon` (not
/// for a resume); then the caller drops the stage. `abandon` naming a run
/// that is not in progress in the schema is refused too.
pub(crate) async fn guard_sharded_run(
    client: &Client,
    schema: &str,
    cmd: &str,
    abandon: Option<&str>,
    may_abandon: bool,
) -> Result<()> {
    let stage = stage_schema(schema);
    match stage_kind(client, schema).await? {
        Some((run, true)) => {
            if may_abandon && abandon == Some(run.as_str()) {
                crate::progress::note(&format!(
                    "abandoning sharded run {run}: its stage is dropped"
                ));
                super::ledger::mark_abandoned(client, schema, &run, cmd).await?;
                return Ok(());
            }
            let named = match abandon {
                Some(other) if other != run => {
                    format!(" (--abandon-run {other} names another run)")
                }
                _ => String::new(),
            };
            Err(Error::Refused(format!(
                "sharded run {run} is in progress in schema {schema:?}{named} (its shards load into the stage {stage:?}); nothing was written. Finish it with `chatsynth load --finish --run {run}`, or abandon it (its shards' work is lost) with `chatsynth {cmd} --abandon-run {run}`"
            )))
        }
        found => match abandon {
            None => Ok(()),
            Some(other) => Err(Error::Refused(format!(
                "--abandon-run {other}: no sharded run is in progress in schema {schema:?} ({}); nothing was written. Run without --abandon-run",
                match found {
                    Some((run, _)) => format!(
                        "the stage {stage:?} holds run {run}, a failed or killed run that was not prepared with `load --prepare`"
                    ),
                    None => "there is no stage".to_string(),
                }
            ))),
        },
    }
}

/// Committed units in the stage of `target_schema` (0 when there is none).
pub async fn committed_unit_count(client: &Client, target_schema: &str) -> Result<i64> {
    if stage_run(client, target_schema).await?.is_none() {
        return Ok(0);
    }
    Ok(client
        .query_one(
            &format!(
                "SELECT count(*) FROM {}.{PROGRESS_TABLE}",
                quote_ident(&stage_schema(target_schema))
            ),
            &[],
        )
        .await
        .step("counting the stage's committed units")?
        .get(0))
}

/// Records that shard `index` of `count` is running. Refused (nothing
/// written) when other shards of the run were started with another count.
pub async fn claim_shard(client: &Client, stage: &str, index: u32, count: u32) -> Result<()> {
    let s = quote_ident(stage);
    let other: Option<i32> = client
        .query_opt(
            &format!("SELECT shards FROM {s}.{SHARDS_TABLE} WHERE shards <> $1 LIMIT 1"),
            &[&(count as i32)],
        )
        .await
        .step("reading the run's shards")?
        .map(|r| r.get(0));
    if let Some(n) = other {
        return Err(Error::Refused(format!(
            "shard {index}/{count}: the run's other shards were started as n = {n}; nothing was written. Give every shard the same n"
        )));
    }
    client
        .execute(
            &format!(
                "INSERT INTO {s}.{SHARDS_TABLE} (shard, shards, done, started_at, host, pid) \
                 VALUES ($1, $2, false, now(), coalesce(host(inet_client_addr()), 'local socket'), $3) \
                 ON CONFLICT (shard) DO UPDATE SET done = false, started_at = now(), \
                 finished_at = NULL, host = EXCLUDED.host, pid = EXCLUDED.pid, rows = NULL, \
                 fingerprints = NULL, error = NULL"
            ),
            &[&(index as i32), &(count as i32), &(std::process::id() as i32)],
        )
        .await
        .step("recording the shard")?;
    Ok(())
}

/// Marks shard `index` done (every unit of its slice committed), with its
/// rows and per-table fingerprints (committed by earlier attempts included).
pub async fn shard_done(
    client: &Client,
    stage: &str,
    index: u32,
    rows: u64,
    fingerprints: &serde_json::Value,
) -> Result<()> {
    client
        .execute(
            &format!(
                "UPDATE {}.{SHARDS_TABLE} SET done = true, finished_at = now(), rows = $2, \
                 fingerprints = $3::text::jsonb WHERE shard = $1",
                quote_ident(stage)
            ),
            &[&(index as i32), &(rows as i64), &fingerprints.to_string()],
        )
        .await
        .step("recording the shard as done")?;
    Ok(())
}

/// Records that shard `index` failed, with the error (a rerun clears it).
pub async fn shard_failed(client: &Client, stage: &str, index: u32, error: &str) -> Result<()> {
    client
        .execute(
            &format!(
                "UPDATE {}.{SHARDS_TABLE} SET finished_at = now(), error = $2 WHERE shard = $1",
                quote_ident(stage)
            ),
            &[&(index as i32), &error],
        )
        .await
        .step("recording the shard's failure")?;
    Ok(())
}

/// The run's shard count (0 when no shard has started) and, per shard not
/// done, what its ledger row says: never started, failed (when, where, the
/// error), or started and not done (running, or killed).
pub async fn shards_missing(client: &Client, stage: &str) -> Result<(u32, Vec<(u32, String)>)> {
    let rows = client
        .query(
            &format!(
                "SELECT shard, shards, done, host, pid, \
                 to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), \
                 to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), error \
                 FROM {}.{SHARDS_TABLE}",
                quote_ident(stage)
            ),
            &[],
        )
        .await
        .step("reading the run's shards")?;
    let count = rows
        .iter()
        .map(|r| r.get::<_, i32>(1) as u32)
        .max()
        .unwrap_or(0);
    let missing = (0..count)
        .filter_map(|i| {
            let row = rows.iter().find(|r| r.get::<_, i32>(0) as u32 == i);
            let state = match row {
                None => "never started".to_string(),
                Some(r) if r.get::<_, bool>(2) => return None,
                Some(r) => {
                    let (host, pid, started): (String, i32, String) =
                        (r.get(3), r.get(4), r.get(5));
                    match (r.get::<_, Option<String>>(6), r.get::<_, Option<String>>(7)) {
                        (Some(at), Some(e)) => format!(
                            "failed at {at} UTC on {host} pid {pid}: {e}"
                        ),
                        _ => format!(
                            "started at {started} UTC on {host} pid {pid}, not done: still running, or killed"
                        ),
                    }
                }
            };
            Some((i, state))
        })
        .collect();
    Ok((count, missing))
}

/// Every committed unit of the stage: (table, unit, rows, fingerprint).
pub async fn committed_units(
    client: &Client,
    stage: &str,
) -> Result<Vec<(String, u32, u64, crate::util::fingerprint::Fingerprint)>> {
    let rows = client
        .query(
            &format!(
                "SELECT tbl, unit, rows, fingerprint FROM {}.{PROGRESS_TABLE}",
                quote_ident(stage)
            ),
            &[],
        )
        .await
        .step("reading the stage's committed units")?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                r.get::<_, i32>(1) as u32,
                r.get::<_, i64>(2) as u64,
                r.get::<_, String>(3).parse().unwrap_or_default(),
            )
        })
        .collect())
}

/// Terminates the sessions still working in the stage (a killed run's index
/// builds) without dropping it.
pub async fn stop_stage_sessions(client: &Client, target_schema: &str) -> Result<usize> {
    let stage = stage_schema(target_schema);
    let rows = client
        .query(STAGE_SESSIONS_SQL, &[&stage])
        .await
        .step("stopping the sessions working in the stage")?;
    let pids: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    // Wait (up to 30 s) until they are gone: an index build that finished
    // after we looked would otherwise appear under our feet.
    for _ in 0..300 {
        let alive = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)",
                &[&pids],
            )
            .await
            .step("waiting for the stage's old sessions to end")?
            .get::<_, i64>(0);
        if alive == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(pids.len())
}

/// Names of the relations (indexes included) and of the constraints in the stage.
pub async fn stage_objects(
    client: &Client,
    stage: &str,
) -> Result<(
    std::collections::HashSet<String>,
    std::collections::HashSet<String>,
)> {
    let rows = client
        .query(
            "SELECT true, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 \
             UNION ALL SELECT false, k.conname::text FROM pg_constraint k \
             JOIN pg_namespace n ON n.oid = k.connamespace WHERE n.nspname = $1",
            &[&stage],
        )
        .await
        .step("reading what the stage already holds")?;
    let (mut relations, mut constraints) = Default::default();
    for r in &rows {
        let set: &mut std::collections::HashSet<String> = if r.get::<_, bool>(0) {
            &mut relations
        } else {
            &mut constraints
        };
        set.insert(r.get(1));
    }
    Ok((relations, constraints))
}

/// The stage's foreign keys that are not validated yet: (table, name).
pub async fn unvalidated_foreign_keys(
    client: &Client,
    stage: &str,
) -> Result<Vec<(String, String)>> {
    let rows = client
        .query(
            "SELECT c.relname::text, k.conname::text FROM pg_constraint k \
             JOIN pg_class c ON c.oid = k.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND k.contype = 'f' AND NOT k.convalidated \
             ORDER BY 1, 2",
            &[&stage],
        )
        .await
        .step("reading the stage's foreign keys still to validate")?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Drops the staging schema, first terminating the sessions still working in
/// it (a killed run's index builds, an interrupted run's in-flight queries),
/// which would otherwise make the DROP wait for them.
pub(crate) async fn drop_stage(client: &Client, target_schema: &str) -> Result<()> {
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

/// How long an attempt of the swap may wait for its locks: 80% of the
/// server's deadlock_timeout (800 ms by default), within 100 ms..5 s. Below
/// deadlock_timeout, a lock cycle with a reader (a transaction that read
/// messages and is about to read users) is always broken by the swap giving up
/// and retrying, never by the reader getting a deadlock error; and no reader
/// ever waits longer than that behind the swap. (Longer waits were tried: a
/// reader then lost the deadlock check.)
pub(crate) fn swap_lock_wait(deadlock_timeout_ms: i64) -> std::time::Duration {
    std::time::Duration::from_millis(
        (deadlock_timeout_ms.saturating_mul(4) / 5).clamp(100, 5_000) as u64,
    )
}
/// How long the swap keeps retrying before the run fails (target untouched).
pub(crate) const SWAP_LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// Replaces the target's tables with the staging tables in one transaction:
/// readers see the whole old dataset or the whole new one. Returns how many
/// attempts it took to lock the live tables.
pub async fn swap(
    client: &mut Client,
    target_schema: &str,
    run_id: &str,
    rows: &serde_json::Value,
    tables: &[String],
) -> Result<u32> {
    let external = super::foreign_keys_into_chat(&*client, target_schema, tables).await?;
    let stage = stage_schema(target_schema);
    let (s, t) = (quote_ident(&stage), quote_ident(target_schema));
    let olds: Vec<String> = tables
        .iter()
        .map(|x| format!("{t}.{}", quote_ident(x)))
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
    for x in tables {
        sql.push_str(&format!(
            "ALTER TABLE {s}.{} SET SCHEMA {t};",
            quote_ident(x)
        ));
    }
    sql.push_str(&format!(
        "DROP TABLE {s}.{RUN_TABLE}, {s}.{PROGRESS_TABLE}, {s}.{SHARDS_TABLE}; DROP SCHEMA {s};"
    ));
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
        ledger::finish(&tx, run_id, Outcome::Completed, rows, None).await?;
        tx.commit().await.step("committing the swap")?;
        return Ok(attempts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_lock_wait_stays_below_deadlock_timeout() {
        let ms: Vec<u128> = [1000, 200, 50, 60_000]
            .iter()
            .map(|&d| swap_lock_wait(d).as_millis())
            .collect();
        assert_eq!(ms, [800, 160, 100, 5000]);
    }
}
