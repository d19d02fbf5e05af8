//! The run ledger: the table `chatsynth_runs` in the target schema, one row per
//! load or refresh (RUNNING, then COMPLETED inside the swap's transaction, or
//! FAILED).

use tokio_postgres::Client;

use crate::error::{DbContext, Result};
use crate::model::{Command, Outcome};

const LEDGER_CREATE_SQL: &str = include_str!("../../sql/ledger/create.sql");
const LEDGER_ABANDON_SQL: &str = include_str!("../../sql/ledger/abandon.sql");
const LEDGER_START_SQL: &str = include_str!("../../sql/ledger/start.sql");
const LEDGER_FINISH_SQL: &str = include_str!("../../sql/ledger/finish.sql");
const LEDGER_RESUME_SQL: &str = include_str!("../../sql/ledger/resume.sql");
const LEDGER_PROGRESS_SQL: &str = include_str!("../../sql/ledger/progress.sql");
const LEDGER_LAST_SQL: &str = include_str!("../../sql/ledger/last.sql");

/// The latest run recorded in the schema: (run id, status, config digest).
/// `None` when there is no ledger or no run.
pub async fn last_run(client: &Client) -> Result<Option<(String, String, String)>> {
    let exists = client
        .query_opt(
            "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'chatsynth_runs'",
            &[],
        )
        .await
        .step("looking for the run ledger")?
        .is_some();
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_opt(LEDGER_LAST_SQL, &[])
        .await
        .step("reading the last run from chatsynth_runs")?;
    Ok(row.map(|r| (r.get(0), r.get(1), r.get(2))))
}

/// Marks a sharded run abandoned with `cmd --abandon-run` FAILED in the
/// ledger of `schema`, when the ledger has it RUNNING (a command that does
/// not write the ledger itself, like `clean`, would otherwise leave it
/// RUNNING until the next load). Nothing when there is no ledger.
pub async fn mark_abandoned(client: &Client, schema: &str, run_id: &str, cmd: &str) -> Result<()> {
    let table = format!("{}.\"chatsynth_runs\"", crate::db::quote_ident(schema));
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await
        .step("looking for the run ledger")?
        .get(0);
    if !exists {
        return Ok(());
    }
    let why = format!("abandoned with `chatsynth {cmd} --abandon-run {run_id}`");
    client
        .execute(
            &format!(
                "UPDATE {table} SET \"status\" = 'FAILED', \"finished_at\" = CURRENT_TIMESTAMP, \"error\" = $2 \
                 WHERE \"run_id\" = $1 AND \"status\" = 'RUNNING'"
            ),
            &[&run_id, &why],
        )
        .await
        .step("marking the abandoned run FAILED in chatsynth_runs")?;
    Ok(())
}

/// Marks a failed or killed run RUNNING again (its resume).
pub async fn resume(client: &Client, run_id: &str) -> Result<()> {
    client
        .batch_execute(LEDGER_CREATE_SQL)
        .await
        .step("creating the run ledger chatsynth_runs")?;
    client
        .execute(LEDGER_RESUME_SQL, &[&run_id])
        .await
        .step("recording the resume in chatsynth_runs")?;
    Ok(())
}

/// Records the run's progress per table (rows skipped and written).
pub async fn progress(client: &Client, run_id: &str, progress: &serde_json::Value) -> Result<()> {
    client
        .execute(LEDGER_PROGRESS_SQL, &[&run_id, &progress.to_string()])
        .await
        .step("recording the run's progress in chatsynth_runs")?;
    Ok(())
}
/// Creates the ledger if needed, marks runs left RUNNING by killed processes
/// as FAILED (we hold the schema's lock, so none of them is alive), and
/// records this run as RUNNING.
pub async fn start(
    client: &Client,
    run_id: &str,
    command: Command,
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
            &[&run_id, &command.as_str(), &band, &(seed as i64), &digest],
        )
        .await
        .step("recording the run in chatsynth_runs")?;
    Ok(())
}

/// Records the end of a run (`COMPLETED` goes inside the swap's transaction).
pub async fn finish(
    client: &impl tokio_postgres::GenericClient,
    run_id: &str,
    outcome: Outcome,
    rows: &serde_json::Value,
    error: Option<&str>,
) -> Result<()> {
    client
        .execute(
            LEDGER_FINISH_SQL,
            &[&run_id, &outcome.ledger_status(), &rows.to_string(), &error],
        )
        .await
        .step("recording the run's end in chatsynth_runs")?;
    Ok(())
}
