//! Plan capture: sample parameters from the loaded data (or reuse a baseline's),
//! warm up, run `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` N times per query and
//! case (writes inside a transaction that is rolled back), and record timings,
//! plan facts and one raw plan per case in a versioned JSON capture.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::path::Path;

use postgres_types::{FromSql, ToSql, Type};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_postgres::{Client, Statement};

use super::plan::{self, PlanFacts, ScanInfo};
use super::queries::{self, Param, QueryDef, QUERIES};
use crate::db::Target;
use crate::error::{DbContext, Error, Result};

pub(crate) const CAPTURE_KIND: &str = "chatsynth.explain.capture";
pub(crate) const CAPTURE_VERSION: u32 = 1;
/// Warm-up executions per query and case before measuring (not recorded).
pub(crate) const WARMUP_RUNS: usize = 2;
/// A table is "large" when its estimated rows exceed this, or it is one of
/// [`ALWAYS_LARGE`] (they grow with traffic even when a small band is loaded).
pub(crate) const LARGE_TABLE_MIN_ROWS: i64 = 10_000;
pub(crate) const ALWAYS_LARGE: [&str; 3] = ["messages", "message_reads", "message_receipts"];
/// Rows Q1 and Q3 ask for (docs/spec.md: 20-100, usually 50; 20-50).
pub(crate) const HISTORY_LIMIT: i64 = 50;
pub(crate) const CONVERSATION_LIST_LIMIT: i64 = 30;
/// Read-receipt batch sizes (docs/spec.md: 10-50).
pub(crate) const RECEIPT_BATCH_HEAVY: i64 = 50;
pub(crate) const RECEIPT_BATCH_TYPICAL: i64 = 20;

const SAMPLE_ROOMS: &str = include_str!("../../sql/queries/sample/rooms.sql");
const SAMPLE_USERS: &str = include_str!("../../sql/queries/sample/users.sql");
const SAMPLE_MEMBER: &str = include_str!("../../sql/queries/sample/member.sql");
const SAMPLE_RECENT: &str = include_str!("../../sql/queries/sample/recent_messages.sql");

/// p50 / p95 / max / mean of one measure over the measured runs, in ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub p50: f64,
    pub p95: f64,
    pub max: f64,
    pub mean: f64,
}

impl Stats {
    /// Nearest-rank percentiles; all zero for no samples.
    pub fn of(samples: &[f64]) -> Stats {
        if samples.is_empty() {
            return Stats::default();
        }
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let r = (p * v.len() as f64).ceil() as usize;
            v[r.clamp(1, v.len()) - 1]
        };
        Stats {
            p50: rank(0.50),
            p95: rank(0.95),
            max: v[v.len() - 1],
            mean: v.iter().sum::<f64>() / v.len() as f64,
        }
    }
}

/// One query under one parameter case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseCapture {
    /// `heavy` or `typical`.
    pub case: String,
    /// What the parameters were chosen as (e.g. the room's message count).
    pub description: String,
    pub params: Vec<Param>,
    pub execution_ms: Stats,
    pub planning_ms: Stats,
    /// Planning + execution of each run: what the decision compares.
    pub total_ms: Stats,
    pub node_types: Vec<String>,
    pub sort_nodes: usize,
    pub has_sort: bool,
    pub seq_scans: Vec<String>,
    pub seq_scans_large: Vec<String>,
    pub indexes_used: Vec<String>,
    pub scans: Vec<ScanInfo>,
    /// Buffers of the representative run (the one with the median total time).
    pub shared_hit_blocks: i64,
    pub shared_read_blocks: i64,
    pub heap_fetches: i64,
    /// The raw plan of the representative run.
    pub plan: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryCapture {
    pub id: String,
    pub name: String,
    pub write: bool,
    pub p95_target_ms: f64,
    pub targeted_by: Vec<String>,
    /// For a write: the table it changes.
    #[serde(default)]
    pub writes_to: Option<String>,
    pub sql: String,
    pub cases: Vec<CaseCapture>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Capture {
    pub kind: String,
    pub version: u32,
    pub captured_at: String,
    /// `user@host:port/db` (never a password).
    pub target: String,
    pub schema: String,
    pub server_version: String,
    pub runs: usize,
    pub warmup_runs: usize,
    /// The baseline whose parameters were reused, if any.
    pub params_from: Option<String>,
    pub large_table_min_rows: i64,
    /// Estimated rows (reltuples) per chat table at capture time.
    pub table_rows: BTreeMap<String, i64>,
    pub large_tables: Vec<String>,
    /// Indexes present per chat table at capture time.
    pub indexes: BTreeMap<String, Vec<String>>,
    pub warnings: Vec<String>,
    pub queries: Vec<QueryCapture>,
}

impl Capture {
    pub fn query(&self, id: &str) -> Option<&QueryCapture> {
        self.queries.iter().find(|q| q.id == id)
    }

    /// Reads and checks a capture file; anything wrong is a `Config` error (exit 2).
    pub fn read(path: &Path) -> Result<Capture> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read capture {}: {e}", path.display())))?;
        let raw: Value = serde_json::from_str(&text)
            .map_err(|e| Error::Config(format!("{} is not JSON: {e}", path.display())))?;
        let kind = raw
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("(no kind)");
        if kind != CAPTURE_KIND {
            return Err(Error::Config(format!(
                "{} is a {kind:?} file, not an explain capture ({CAPTURE_KIND})",
                path.display()
            )));
        }
        let version = raw.get("version").and_then(Value::as_u64).unwrap_or(0);
        if version != u64::from(CAPTURE_VERSION) {
            return Err(Error::Config(format!(
                "{} has capture version {version}; this chatsynth reads version {CAPTURE_VERSION}",
                path.display()
            )));
        }
        let cap: Capture = serde_json::from_value(raw).map_err(|e| {
            Error::Config(format!(
                "{} is not a valid explain capture: {e}",
                path.display()
            ))
        })?;
        Ok(cap)
    }
}

/// The cases of each query: (query id, case, description, params).
pub(crate) type CaseParams = Vec<(String, String, String, Vec<Param>)>;

/// EXPLAIN's JSON column, read as its text (json's binary form is the text).
struct RawJson(String);

impl<'a> FromSql<'a> for RawJson {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(RawJson(std::str::from_utf8(raw)?.to_string()))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSON || *ty == Type::TEXT
    }
}

/// Samples every query's cases from the loaded data (see `sql/queries/sample/`).
pub(crate) async fn sample_params(client: &Client) -> Result<CaseParams> {
    let rooms = client
        .query(SAMPLE_ROOMS, &[])
        .await
        .step("sampling the heavy and typical rooms")?;
    let users = client
        .query(SAMPLE_USERS, &[])
        .await
        .step("sampling the heavy and typical users")?;
    if rooms.is_empty() || users.is_empty() {
        return Err(Error::Config(
            "the target holds no conversation with messages and active members: load a dataset first (chatsynth load)".into(),
        ));
    }
    let mut out: CaseParams = Vec::new();
    let mut push = |q: &str, case: &str, desc: String, params: Vec<Param>| {
        out.push((q.to_string(), case.to_string(), desc, params));
    };
    // A fixed salt: the same data gives the same parameters.
    let salt = 0x00C4_A75E_u64;
    for (i, r) in rooms.iter().enumerate() {
        let case: String = r.get(0);
        let room: String = r.get(1);
        let n: i64 = r.get(2);
        let member = client
            .query_one(SAMPLE_MEMBER, &[&room])
            .await
            .step(format!("sampling a member of the {case} room"))?;
        let user: String = member.get(0);
        let last_read_ms: i64 = member.get(1);
        let batch = if case == "heavy" {
            RECEIPT_BATCH_HEAVY
        } else {
            RECEIPT_BATCH_TYPICAL
        };
        let recent: Vec<String> = client
            .query(SAMPLE_RECENT, &[&room, &batch])
            .await
            .step(format!("sampling recent messages of the {case} room"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let room_desc = format!("{case} room {room} ({n} messages)");
        push(
            "Q1",
            &case,
            format!("{room_desc}, newest {HISTORY_LIMIT}"),
            vec![
                Param::text("conversationId", &room),
                Param::int("limit", HISTORY_LIMIT),
            ],
        );
        let k = i as u64 * 4;
        push(
            "Q2",
            &case,
            format!("insert into the {room_desc} by member {user}"),
            vec![
                Param::text("id", queries::cuid_like(salt, k)),
                Param::text(
                    "content",
                    "Sounds good, see you at the standup tomorrow at 9:30.",
                ),
                Param::text(
                    "idempotencyKey",
                    format!("syn_explain_{}", queries::cuid_like(salt, k + 1)),
                ),
                Param::text("correlationId", queries::cuid_like(salt, k + 2)),
                Param::text("senderId", &user),
                Param::text("conversationId", &room),
            ],
        );
        push(
            "Q4",
            &case,
            format!("{room_desc}, member {user} furthest behind"),
            vec![
                Param::text("conversationId", &room),
                Param::text("userId", &user),
                Param::timestamp_ms("lastReadAt", last_read_ms),
            ],
        );
        let ids: Vec<String> = (0..recent.len() as u64)
            .map(|j| queries::cuid_like(salt ^ 0x5EAD, k * 1000 + j))
            .collect();
        push(
            "Q5",
            &case,
            format!(
                "member {user} reads the newest {} messages of the {room_desc}",
                recent.len()
            ),
            vec![
                Param::text("userId", &user),
                Param::text_array("ids", ids),
                Param::text_array("messageIds", recent),
            ],
        );
        push(
            "Q6",
            &case,
            room_desc.clone(),
            vec![Param::text("conversationId", &room)],
        );
    }
    for r in &users {
        let case: String = r.get(0);
        let user: String = r.get(1);
        let n: i64 = r.get(2);
        push(
            "Q3",
            &case,
            format!(
                "{case} user {user} ({n} active conversations), newest {CONVERSATION_LIST_LIMIT}"
            ),
            vec![
                Param::text("userId", &user),
                Param::int("limit", CONVERSATION_LIST_LIMIT),
            ],
        );
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    Ok(out)
}

/// The baseline's cases, checked to cover every query.
pub(crate) fn params_from(baseline: &Capture) -> Result<CaseParams> {
    let mut out = CaseParams::new();
    for q in QUERIES.iter() {
        let Some(bq) = baseline.query(q.id) else {
            return Err(Error::Config(format!(
                "the baseline has no {} cases to reuse",
                q.id
            )));
        };
        if bq.cases.is_empty() {
            return Err(Error::Config(format!(
                "the baseline has no {} cases to reuse",
                q.id
            )));
        }
        for c in &bq.cases {
            out.push((
                q.id.to_string(),
                c.case.clone(),
                c.description.clone(),
                c.params.clone(),
            ));
        }
    }
    Ok(out)
}

struct Measured {
    facts: PlanFacts,
    plan: Value,
}

async fn explain_once(
    client: &mut Client,
    stmt: &Statement,
    params: &[Box<dyn ToSql + Sync + Send>],
    write: bool,
    what: &str,
) -> Result<Measured> {
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|b| b.as_ref() as _).collect();
    let row = if write {
        // EXPLAIN ANALYZE really writes: keep the row out of the dataset.
        let tx = client
            .transaction()
            .await
            .step(format!("{what}: opening the rolled-back transaction"))?;
        let row = tx.query_one(stmt, &refs).await.step(what)?;
        tx.rollback().await.step(format!("{what}: rolling back"))?;
        row
    } else {
        client.query_one(stmt, &refs).await.step(what)?
    };
    let raw: RawJson = row
        .try_get(0)
        .map_err(|e| Error::Other(format!("{what}: reading the EXPLAIN output: {e}")))?;
    let plan: Value = serde_json::from_str(&raw.0)
        .map_err(|e| Error::Other(format!("{what}: EXPLAIN output is not JSON: {e}")))?;
    let facts = plan::analyze(&plan).map_err(|e| Error::Other(format!("{what}: {e}")))?;
    Ok(Measured { facts, plan })
}

async fn capture_case(
    client: &mut Client,
    q: &QueryDef,
    case: &str,
    description: String,
    params: Vec<Param>,
    runs: usize,
    is_large: &dyn Fn(&str) -> bool,
) -> Result<CaseCapture> {
    let what = format!("{} ({}) {case}", q.id, q.name);
    // Prepare the bare query for its parameter types, then the EXPLAIN with them.
    let bare = client
        .prepare(q.sql)
        .await
        .step(format!("{what}: preparing"))?;
    let types = bare.params().to_vec();
    let bound = queries::bind(&params, &types).map_err(|e| {
        Error::Config(format!(
            "{what}: {e} (was the baseline captured on another schema?)"
        ))
    })?;
    let stmt = client
        .prepare_typed(
            &format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {}", q.sql),
            &types,
        )
        .await
        .step(format!("{what}: preparing EXPLAIN"))?;
    for _ in 0..WARMUP_RUNS {
        explain_once(client, &stmt, &bound, q.write, &format!("{what}: warm-up")).await?;
    }
    let mut measured = Vec::with_capacity(runs);
    for _ in 0..runs {
        measured.push(explain_once(client, &stmt, &bound, q.write, &what).await?);
    }
    let exec: Vec<f64> = measured.iter().map(|m| m.facts.execution_ms).collect();
    let planning: Vec<f64> = measured.iter().map(|m| m.facts.planning_ms).collect();
    let total: Vec<f64> = measured
        .iter()
        .map(|m| m.facts.execution_ms + m.facts.planning_ms)
        .collect();
    // The representative run: the one with the median total time.
    let mut order: Vec<usize> = (0..measured.len()).collect();
    order.sort_by(|&a, &b| total[a].total_cmp(&total[b]));
    let rep = measured.swap_remove(order[(order.len() - 1) / 2]);
    let f = rep.facts;
    Ok(CaseCapture {
        case: case.to_string(),
        description,
        params,
        execution_ms: Stats::of(&exec),
        planning_ms: Stats::of(&planning),
        total_ms: Stats::of(&total),
        has_sort: f.has_sort(),
        seq_scans_large: f.seq_scans_large(is_large),
        node_types: f.node_types,
        sort_nodes: f.sort_nodes,
        seq_scans: f.seq_scans,
        indexes_used: f.indexes_used,
        scans: f.scans,
        shared_hit_blocks: f.shared_hit_blocks,
        shared_read_blocks: f.shared_read_blocks,
        heap_fetches: f.heap_fetches,
        plan: rep.plan,
    })
}

/// Captures every query and case on the target.
pub(crate) async fn capture(
    target: &Target,
    runs: usize,
    baseline: Option<(&Capture, String)>,
    captured_at: String,
) -> Result<Capture> {
    let mut client = target.connect().await?;
    let server_version = crate::db::server_version(&client).await?;
    let (table_rows, indexes) =
        crate::catalog::table_sizes_and_indexes(&client, &target.schema).await?;
    let mut warnings = Vec::new();
    let never_analyzed: Vec<&str> = table_rows
        .iter()
        .filter(|(_, &n)| n < 0)
        .map(|(t, _)| t.as_str())
        .collect();
    if !never_analyzed.is_empty() {
        warnings.push(format!(
            "tables never analyzed (plans use default estimates): {}",
            never_analyzed.join(", ")
        ));
    }
    let large_tables: Vec<String> = table_rows
        .iter()
        .filter(|(t, &n)| n > LARGE_TABLE_MIN_ROWS || ALWAYS_LARGE.contains(&t.as_str()))
        .map(|(t, _)| t.clone())
        .collect();
    let is_large = |t: &str| large_tables.iter().any(|l| l == t);
    let (cases, params_from_path) = match baseline {
        Some((b, path)) => {
            if b.schema != target.schema || b.target != target.display {
                warnings.push(format!(
                    "parameters reused from a capture of {} schema {}; this capture is of {} schema {}",
                    b.target, b.schema, target.display, target.schema
                ));
            }
            (params_from(b)?, Some(path))
        }
        None => (sample_params(&client).await?, None),
    };
    let mut queries_out = Vec::new();
    for q in QUERIES.iter() {
        let mut cases_out = Vec::new();
        for (qid, case, desc, params) in cases.iter().filter(|c| c.0 == q.id) {
            debug_assert_eq!(qid, q.id);
            cases_out.push(
                capture_case(
                    &mut client,
                    q,
                    case,
                    desc.clone(),
                    params.clone(),
                    runs,
                    &is_large,
                )
                .await?,
            );
        }
        queries_out.push(QueryCapture {
            id: q.id.to_string(),
            name: q.name.to_string(),
            write: q.write,
            p95_target_ms: q.p95_target_ms,
            targeted_by: q.targeted_by.iter().map(|s| s.to_string()).collect(),
            writes_to: q.writes_to.map(str::to_string),
            sql: q.sql.to_string(),
            cases: cases_out,
        });
    }
    Ok(Capture {
        kind: CAPTURE_KIND.into(),
        version: CAPTURE_VERSION,
        captured_at,
        target: target.display.clone(),
        schema: target.schema.clone(),
        server_version,
        runs,
        warmup_runs: WARMUP_RUNS,
        params_from: params_from_path,
        large_table_min_rows: LARGE_TABLE_MIN_ROWS,
        table_rows,
        large_tables,
        indexes,
        warnings,
        queries: queries_out,
    })
}

/// The terminal table of a capture.
pub fn render(cap: &Capture) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "explain capture of {} schema {} (PostgreSQL {}), {} runs per case after {} warm-up; times in ms",
        cap.target, cap.schema, cap.server_version, cap.runs, cap.warmup_runs
    );
    let _ = writeln!(
        s,
        "{:<4} {:<8} {:>9} {:>9} {:>9} {:>9} {:>7} {:<5} {:<14} {:>11}  indexes used",
        "q",
        "case",
        "exec p50",
        "exec p95",
        "exec max",
        "plan p50",
        "target",
        "sort",
        "seq scan(lg)",
        "hit/read"
    );
    for q in &cap.queries {
        for c in &q.cases {
            let _ = writeln!(
                s,
                "{:<4} {:<8} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>7} {:<5} {:<14} {:>11}  {}",
                q.id,
                c.case,
                c.execution_ms.p50,
                c.execution_ms.p95,
                c.execution_ms.max,
                c.planning_ms.p50,
                format!("{}", q.p95_target_ms),
                if c.has_sort { "yes" } else { "no" },
                if c.seq_scans_large.is_empty() {
                    "-".to_string()
                } else {
                    c.seq_scans_large.join(",")
                },
                format!("{}/{}", c.shared_hit_blocks, c.shared_read_blocks),
                if c.indexes_used.is_empty() {
                    "-".to_string()
                } else {
                    c.indexes_used.join(", ")
                },
            );
        }
    }
    for w in &cap.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        let s = Stats::of(&v);
        assert_eq!(s.p50, 10.0);
        assert_eq!(s.p95, 19.0);
        assert_eq!(s.max, 20.0);
        assert_eq!(s.mean, 10.5);
        assert_eq!(Stats::of(&[]), Stats::default());
        let one = Stats::of(&[3.0]);
        assert_eq!((one.p50, one.p95, one.max), (3.0, 3.0, 3.0));
    }
}
