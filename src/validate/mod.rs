//! `chatsynth validate`: the quality gate after a load. Reads the dataset back
//! out of the database and decides GO or NO-GO.
//!
//! - [`targets`], what to check against (a load report's dataset and realised
//!   targets, or a band preset).
//! - `sql/validate/*.sql`: every measurement is an aggregate computed in the
//!   database, a few scans with many aggregates each, all inside one
//!   REPEATABLE READ READ ONLY transaction (one snapshot); no row leaves it.
//! - [`checks`], integrity (critical, counts of violating rows that must be 0)
//!   and fidelity (measured vs target within the tolerance), and the decision.
//! - Output: a table on the terminal and a JSON file with checks, targets,
//!   measured values, histograms and the decision. Exit 0 GO, 1 NO-GO, 2 when
//!   validation could not run.
//! - With `--html FILE`, [`charts`] also measures the distributions the page
//!   draws (same snapshot) and `crate::html` renders the page.

pub mod charts;
pub mod checks;
pub mod children;
pub mod targets;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

use crate::config::{Band, Counts, DatasetConfig, RealisedTargets};
use crate::db::Target;
use crate::error::{DbContext, Error, Result};
use crate::util::num::fmt_num;
use checks::{Check, Decision, Kind, Metrics, Status};
use targets::Targets;

/// Which parameters a query file takes.
#[derive(Clone, Copy)]
enum Params {
    /// $1 window start, $2 window end (Unix ms).
    Window,
    /// $1 heavy-room fraction.
    HeavyFraction,
    /// $1 receipts room-size limit, $2 window end (Unix ms).
    Receipts,
    /// $1 top-user fraction.
    TopUsers,
    None,
}

const QUERIES: &[(&str, &str, Params)] = &[
    (
        "users",
        include_str!("../../sql/validate/users.sql"),
        Params::Window,
    ),
    (
        "conversations",
        include_str!("../../sql/validate/conversations.sql"),
        Params::Window,
    ),
    (
        "messages",
        include_str!("../../sql/validate/messages.sql"),
        Params::Window,
    ),
    (
        "message_order",
        include_str!("../../sql/validate/message_order.sql"),
        Params::HeavyFraction,
    ),
    (
        "replies",
        include_str!("../../sql/validate/replies.sql"),
        Params::None,
    ),
    (
        "attachments",
        include_str!("../../sql/validate/attachments.sql"),
        Params::None,
    ),
    (
        "reads",
        include_str!("../../sql/validate/reads.sql"),
        Params::Receipts,
    ),
    (
        "receipts",
        include_str!("../../sql/validate/receipts.sql"),
        Params::Receipts,
    ),
    (
        "time",
        include_str!("../../sql/validate/time.sql"),
        Params::Window,
    ),
    (
        "activity",
        include_str!("../../sql/validate/activity.sql"),
        Params::TopUsers,
    ),
];

/// The fraction of users whose share of messages the skew check measures.
const TOP_USER_FRACTION: f64 = 0.10;

/// `work_mem` of validate's own session. At the server's default (4 MB) the
/// queries' hash joins on memberships and on per-message attachment counts
/// split into batches from 4x dev on, and every batch writes the whole wide
/// probe side (2M messages) to temp files and reads it back; the sorts of
/// `count(DISTINCT "idempotencyKey")` and `percentile_cont` spill too. That
/// made the messages and attachments queries grow 5-8x for 4x the rows.
/// With 256 MB (hash nodes get `hash_mem_multiplier` times that) the hashes
/// stay in memory to well beyond the perf band's memberships, and a sort
/// that still spills merges in one pass (docs/scale.md, "validate").
const VALIDATE_WORK_MEM: &str = "256MB";

/// A query's own planner settings: its `-- set: name = value` lines. They
/// are applied before the query and reset after it, and the file says why
/// (receipts.sql turns nested loops off, reads.sql sorts, conversations.sql
/// index scans; docs/scale.md, "validate at 20M"). A setting name is
/// letters, digits and underscores, and its value a plain word or number,
/// so nothing from the file needs quoting.
fn query_settings(sql: &str) -> Vec<(&str, &str)> {
    sql.lines()
        .filter_map(|l| l.trim().strip_prefix("-- set:"))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .filter(|(k, v)| {
            let plain = |s: &str, extra: &str| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || extra.contains(c))
            };
            plain(k, "") && plain(v, ".")
        })
        .collect()
}

/// Everything measured: scalar aggregates and histograms, by column name.
#[derive(Debug, Default)]
pub struct Measured {
    pub metrics: Metrics,
    pub histograms: BTreeMap<String, Vec<i64>>,
    pub query_ms: Vec<(String, u64)>,
}

/// What to validate against, validated (built by `settings::validate`).
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// The targets recorded in a load report, when one was given.
    pub from_report: Option<Targets>,
    /// The band preset to check against when no load report is given.
    pub band: Option<Band>,
    /// Relative tolerance of the fidelity metrics, in (0, 10].
    pub tolerance: f64,
    /// Where to write the JSON result; `None` = `reports/validate-<time>.json`.
    pub out: Option<PathBuf>,
    /// Also measure the charts' distributions and write an HTML page here.
    pub html: Option<PathBuf>,
}

/// What a validation decided, for the caller (exit code, metrics).
#[derive(Debug)]
pub struct Gate {
    pub decision: Decision,
    pub checks: Vec<Check>,
    pub elapsed_ms: u64,
}

impl Gate {
    /// 0 GO, 1 NO-GO.
    pub fn exit_code(&self) -> u8 {
        self.decision.verdict.exit_code()
    }
}

/// Runs validation and decides GO or NO-GO. Errors mean it could not run: they
/// are `Config`/`Connect` so that they exit 2.
pub async fn run(target: &Target, opts: &ValidateOptions) -> Result<Gate> {
    let started = Instant::now();
    let client = target.connect().await?;
    let result = measure_and_decide(&client, target, opts, started).await;
    result.map_err(could_not_run)
}

/// Errors after connecting (a query failing, an unwritable output) mean the
/// gate could not run: exit 2, not 1 (which means NO-GO).
fn could_not_run(e: Error) -> Error {
    match e {
        Error::Config(_) | Error::Connect { .. } | Error::Interrupted { .. } => e,
        other => Error::Config(format!("validate could not run: {other}")),
    }
}

async fn measure_and_decide(
    client: &Client,
    target: &Target,
    opts: &ValidateOptions,
    started: Instant,
) -> Result<Gate> {
    check_tables(client, &target.schema).await?;
    let targets = match (&opts.from_report, opts.band) {
        (Some(t), _) => t.clone(),
        (None, Some(b)) => Targets::from_band(b, "--band"),
        (None, None) => {
            let counts = count_rows(client).await?;
            Targets::from_band(
                targets::infer_band(&counts)?,
                "inferred from the row counts",
            )
        }
    };

    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .step("starting the read-only validation transaction")?;
    let measured = measure(client, &targets.dataset).await?;
    let child_measured = children::measure(client, &targets.dataset).await?;
    let chart_data = match &opts.html {
        Some(_) => Some(charts::measure(client, &targets.dataset).await?),
        None => None,
    };
    client
        .batch_execute("COMMIT")
        .await
        .step("ending the validation transaction")?;

    let hourly = measured.histograms.get("hist_hourly").map(|v| v.as_slice());
    let mut checks = checks::build(&measured.metrics, hourly, &targets, opts.tolerance);
    checks.extend(child_checks(&targets.dataset, &child_measured, opts.tolerance).await?);
    let decision = checks::decide(&checks);

    print_table(&checks, &decision, &targets, target);

    let stamp: (String, String) = {
        let row = client
            .query_one(
                "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISS\"Z\"'), \
                        to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
                &[],
            )
            .await
            .step("reading the server time")?;
        (row.get(0), row.get(1))
    };
    let out = opts
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("reports/validate-{}.json", stamp.0)));
    let report = ValidateReport {
        report_version: 1,
        tool: "chatsynth",
        tool_version: env!("CARGO_PKG_VERSION"),
        validated_at: stamp.1,
        database: &target.display,
        schema: &target.schema,
        targets_source: &targets.source,
        tolerance: opts.tolerance,
        dataset: &targets.dataset,
        realised_targets: targets.realised.as_ref(),
        decision: &decision,
        checks: &checks,
        histograms: histograms(&measured.histograms),
        measured: &measured.metrics,
        query_ms: measured.query_ms.iter().cloned().collect(),
        elapsed_ms: started.elapsed().as_millis() as u64,
    };
    write_report(&out, &report)?;
    println!("result written to {}", out.display());
    if let (Some(path), Some(data)) = (&opts.html, &chart_data) {
        let value = serde_json::to_value(&report)
            .map_err(|e| Error::Other(format!("cannot encode the validation result: {e}")))?;
        crate::html::write_atomically(path, &crate::html::validate::page(&value, data)?)?;
        println!("HTML report written to {}", path.display());
    }
    let elapsed_ms = report.elapsed_ms;
    Ok(Gate {
        decision,
        checks,
        elapsed_ms,
    })
}

/// The checks of the declared child tables; their expected rows per parent
/// come from the plan of `dataset` (built only when tables are declared).
async fn child_checks(
    dataset: &DatasetConfig,
    measured: &BTreeMap<String, children::Measured>,
    rel: f64,
) -> Result<Vec<Check>> {
    if measured.is_empty() {
        return Ok(Vec::new());
    }
    let (plan, _, _) = crate::gen::prepare(dataset).await?;
    let expected = children::expected(&plan);
    Ok(measured
        .iter()
        .flat_map(|(name, m)| children::checks(name, m, expected.get(name), rel))
        .collect())
}

async fn check_tables(client: &Client, schema: &str) -> Result<()> {
    let present = crate::catalog::existing_tables(client, schema).await?;
    let missing: Vec<&str> = crate::model::Table::ALL
        .iter()
        .map(|t| t.name())
        .filter(|n| !present.iter().any(|p| p == n))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "schema \"{schema}\" has no chatsynth dataset (missing tables: {}); load one first",
            missing.join(", ")
        )))
    }
}

async fn count_rows(client: &Client) -> Result<Counts> {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM \"users\"), (SELECT count(*) FROM \"conversations\"), \
                    (SELECT count(*) FROM \"messages\")",
            &[],
        )
        .await
        .step("counting users, conversations and messages")?;
    let n = |i: usize| row.get::<_, i64>(i) as u64;
    Ok(Counts {
        users: n(0),
        conversations: n(1),
        messages: n(2),
    })
}

/// Runs every query file; each returns one row of named aggregates.
pub(crate) async fn measure(client: &Client, dataset: &DatasetConfig) -> Result<Measured> {
    let start_ms = dataset.window.start_ms();
    let end_ms = dataset.window.end_ms;
    let heavy = dataset.shape.heavy_room_fraction;
    let room_limit = dataset.shape.receipts_max_room_members as i64;
    client
        .batch_execute(&format!("SET work_mem = '{VALIDATE_WORK_MEM}'"))
        .await
        .step("setting work_mem for validate's queries")?;
    let mut out = Measured::default();
    for (name, sql, params) in QUERIES {
        let p: Vec<&(dyn ToSql + Sync)> = match params {
            Params::Window => vec![&start_ms, &end_ms],
            Params::HeavyFraction => vec![&heavy],
            Params::Receipts => vec![&room_limit, &end_ms],
            Params::TopUsers => vec![&TOP_USER_FRACTION],
            Params::None => vec![],
        };
        let settings = query_settings(sql);
        for (k, v) in &settings {
            client
                .batch_execute(&format!("SET {k} = {v}"))
                .await
                .step(format!("setting {k} for sql/validate/{name}.sql"))?;
        }
        let t0 = Instant::now();
        let row = client
            .query_one(*sql, &p)
            .await
            .step(format!("validation query sql/validate/{name}.sql"))?;
        for (k, _) in &settings {
            client
                .batch_execute(&format!("RESET {k}"))
                .await
                .step(format!("resetting {k} after sql/validate/{name}.sql"))?;
        }
        out.query_ms
            .push((name.to_string(), t0.elapsed().as_millis() as u64));
        for (i, col) in row.columns().iter().enumerate() {
            let key = col.name().to_string();
            match *col.type_() {
                Type::FLOAT8 => {
                    out.metrics.insert(key, row.get::<_, Option<f64>>(i));
                }
                Type::INT8 => {
                    out.metrics
                        .insert(key, row.get::<_, Option<i64>>(i).map(|v| v as f64));
                }
                Type::INT8_ARRAY => {
                    let v: Option<Vec<Option<i64>>> = row.get(i);
                    let v = v
                        .unwrap_or_default()
                        .into_iter()
                        .map(|x| x.unwrap_or(0))
                        .collect();
                    out.histograms.insert(key, v);
                }
                ref other => {
                    return Err(Error::Other(format!(
                        "sql/validate/{name}.sql: column {key} has type {other}; expected float8, int8 or int8[]"
                    )))
                }
            }
        }
    }
    Ok(out)
}

#[derive(Serialize)]
struct Histogram {
    labels: Vec<String>,
    counts: Vec<i64>,
}

fn histograms(h: &BTreeMap<String, Vec<i64>>) -> BTreeMap<&'static str, Histogram> {
    let mut out = BTreeMap::new();
    let sizes = [
        "0-1", "2", "3-5", "6-10", "11-20", "21-50", "51-100", "101-256", "257+",
    ];
    let mut mpc = vec!["0".to_string()];
    for k in 0..17u32 {
        let lo = 1u64 << k;
        mpc.push(match k {
            0 => "1".to_string(),
            16 => format!("{lo}+"),
            _ => format!("{lo}-{}", (lo << 1) - 1),
        });
    }
    let hours: Vec<String> = (0..24).map(|h| format!("{h:02}")).collect();
    for (name, key, labels) in [
        (
            "conversation_sizes_members",
            "hist_conversation_sizes",
            sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        ),
        (
            "messages_per_conversation_log2",
            "hist_messages_per_conversation",
            mpc,
        ),
        ("messages_by_hour_utc", "hist_hourly", hours),
    ] {
        if let Some(counts) = h.get(key) {
            out.insert(
                name,
                Histogram {
                    labels,
                    counts: counts.clone(),
                },
            );
        }
    }
    out
}

#[derive(Serialize)]
struct ValidateReport<'a> {
    report_version: u32,
    tool: &'static str,
    tool_version: &'static str,
    validated_at: String,
    database: &'a str,
    schema: &'a str,
    targets_source: &'a str,
    tolerance: f64,
    dataset: &'a DatasetConfig,
    realised_targets: Option<&'a RealisedTargets>,
    decision: &'a Decision,
    checks: &'a [Check],
    histograms: BTreeMap<&'static str, Histogram>,
    measured: &'a Metrics,
    query_ms: BTreeMap<String, u64>,
    elapsed_ms: u64,
}

fn write_report(path: &std::path::Path, report: &ValidateReport<'_>) -> Result<()> {
    let unwritable = |e: std::io::Error| {
        Error::Config(format!(
            "cannot write the validation result to {}: {e}",
            path.display()
        ))
    };
    crate::util::json::write_atomic(path, report).map_err(unwritable)
}

fn print_table(checks: &[Check], decision: &Decision, targets: &Targets, target: &Target) {
    println!(
        "validate {} schema {} against {}",
        target.display, target.schema, targets.source
    );
    let w = checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(10)
        .max(5);
    for cat in [checks::Category::Integrity, checks::Category::Fidelity] {
        println!();
        println!(
            "{:<w$}  {:<8}  {:>20}  {:>12}  result",
            match cat {
                checks::Category::Integrity => "INTEGRITY",
                checks::Category::Fidelity => "FIDELITY",
            },
            "kind",
            "target",
            "measured",
        );
        for c in checks.iter().filter(|c| c.category == cat) {
            let kind = match c.kind {
                Kind::Critical => "critical",
                Kind::Warning => "warning",
            };
            let target_s = match c.expect {
                checks::Expect::Near { target, .. } if !target.is_finite() => "n/a".to_string(),
                e => e.display(),
            };
            let measured = c.measured.map(fmt_num).unwrap_or_else(|| "-".into());
            let result = match c.status {
                Status::Pass => "pass".to_string(),
                Status::Fail => "FAIL".to_string(),
                Status::Skipped => format!("skipped: {}", c.note),
            };
            let note = if c.status == Status::Fail && !c.note.is_empty() {
                format!(" ({})", c.note)
            } else {
                String::new()
            };
            println!(
                "{:<w$}  {:<8}  {:>20}  {:>12}  {result}{note}",
                c.name, kind, target_s, measured
            );
        }
    }
    println!();
    if decision.verdict.is_go() {
        println!(
            "decision: GO ({} warnings failed, at most {} allowed)",
            decision.warning_failures.len(),
            checks::MAX_WARNING_FAILURES
        );
    } else {
        println!("decision: NO-GO");
        for r in &decision.reasons {
            println!("  - {r}");
        }
    }
}

/// The critical integrity checks that fail on the dataset in `target`'s schema
/// (one sentence each), measured in one read-only snapshot. `refresh` runs this
/// on the staged dataset before it may replace the live one.
pub(crate) async fn integrity_failures(
    target: &Target,
    dataset: &DatasetConfig,
) -> Result<Vec<String>> {
    let client = target.connect().await?;
    check_tables(&client, &target.schema).await?;
    client
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .step("starting the read-only validation transaction")?;
    let measured = measure(&client, dataset).await?;
    let child_measured = children::measure(&client, dataset).await?;
    client
        .batch_execute("COMMIT")
        .await
        .step("ending the validation transaction")?;
    let child = child_checks(dataset, &child_measured, 0.2).await?;
    let targets = Targets {
        dataset: dataset.clone(),
        realised: None,
        source: "the run's own configuration".into(),
    };
    let hourly = measured.histograms.get("hist_hourly").map(|v| v.as_slice());
    Ok(checks::build(&measured.metrics, hourly, &targets, 0.2)
        .into_iter()
        .chain(child)
        .filter(|c| {
            c.category == checks::Category::Integrity
                && c.kind == Kind::Critical
                && c.status != Status::Pass
        })
        .map(|c| {
            let m = c.measured.map_or("not measured".to_string(), fmt_num);
            format!("{} ({m})", c.name)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_settings_come_from_the_files_set_lines() {
        let of = |q: &str| {
            let (_, sql, _) = QUERIES.iter().find(|(n, _, _)| *n == q).unwrap();
            query_settings(sql)
        };
        assert_eq!(of("receipts"), vec![("enable_nestloop", "off")]);
        assert_eq!(of("reads"), vec![("enable_sort", "off")]);
        assert_eq!(of("conversations"), vec![("enable_indexscan", "off")]);
        for (name, sql, _) in QUERIES {
            if !["receipts", "reads", "conversations"].contains(name) {
                assert!(query_settings(sql).is_empty(), "{name}");
            }
        }
    }

    #[test]
    fn query_settings_skip_anything_that_would_need_quoting() {
        let sql = "-- set: work_mem = 64MB\n\
                   -- set: search_path = x; DROP TABLE users\n\
                   -- set: enable_hashjoin=off\n\
                   -- set: no_value =\n\
                   SELECT 1 -- set: not = at_line_start";
        assert_eq!(
            query_settings(sql),
            vec![("work_mem", "64MB"), ("enable_hashjoin", "off")]
        );
    }
}
