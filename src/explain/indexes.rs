//! Candidate index sets (`sql/indexes/<set>.sql`): built one statement at a
//! time, because `CREATE INDEX CONCURRENTLY` refuses to run inside a
//! transaction block (and a multi-statement query string is one), then the
//! tables are analyzed. Idempotent; an INVALID leftover of an interrupted
//! concurrent build is dropped and rebuilt rather than silently kept.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::catalog;
use crate::db::{quote_ident, Target};
use crate::error::{DbContext, Error, Result};

pub(crate) const PHASE_2: &str = include_str!("../../sql/indexes/phase-2.sql");

/// The SQL of a named index set.
pub(crate) fn set_sql(name: &str) -> Result<&'static str> {
    match name {
        "phase-2" | "phase2" => Ok(PHASE_2),
        other => Err(Error::Config(format!(
            "unknown index set {other:?}: the known set is phase-2 (sql/indexes/phase-2.sql)"
        ))),
    }
}

/// Splits a SQL file into statements: `--` comments dropped, split on `;`.
/// (The index files hold no string literals or bodies with semicolons.)
pub(crate) fn statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .map(|l| match l.find("--") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

/// The index a `CREATE INDEX ... IF NOT EXISTS "name"` statement builds.
pub(crate) fn created_index(stmt: &str) -> Option<String> {
    let upper = stmt.to_ascii_uppercase();
    if !upper.starts_with("CREATE INDEX") && !upper.starts_with("CREATE UNIQUE INDEX") {
        return None;
    }
    let at = upper.find("IF NOT EXISTS")? + "IF NOT EXISTS".len();
    let rest = stmt[at..].trim_start();
    if let Some(quoted) = rest.strip_prefix('"') {
        quoted.find('"').map(|end| quoted[..end].to_string())
    } else {
        rest.split_whitespace().next().map(str::to_string)
    }
}

/// The table an `ANALYZE "t"` statement analyzes.
pub(crate) fn analyzed_table(stmt: &str) -> Option<String> {
    let rest = stmt.strip_prefix("ANALYZE")?.trim();
    Some(rest.trim_matches('"').to_string())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepReport {
    /// `index` or `analyze`.
    pub kind: String,
    pub name: String,
    /// `built`, `already present`, `rebuilt (was invalid)`, `analyzed`.
    pub status: String,
    pub elapsed_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplyReport {
    pub kind: String,
    pub version: u32,
    pub applied_at: String,
    pub target: String,
    pub schema: String,
    pub set: String,
    pub steps: Vec<StepReport>,
}

/// Applies an index set to the target; idempotent.
pub(crate) async fn apply(target: &Target, set: &str, applied_at: String) -> Result<ApplyReport> {
    let sql = set_sql(set)?;
    let client = target.connect().await?;
    // Building an index on a large table takes long: no lock timeout waits here
    // other than the session's, but no statement timeout either.
    client
        .batch_execute("SET statement_timeout = 0")
        .await
        .step("setting up the index build session")?;
    let mut steps = Vec::new();
    for stmt in statements(sql) {
        if let Some(name) = created_index(&stmt) {
            let state = catalog::index_validity(&client, &target.schema, &name).await?;
            let qualified = format!("{}.{}", target.schema_q(), quote_ident(&name));
            let status = match state {
                Some(true) => "already present",
                Some(false) => {
                    client
                        .batch_execute(&format!("DROP INDEX CONCURRENTLY IF EXISTS {qualified}"))
                        .await
                        .step(format!("dropping the invalid leftover of index {name}"))?;
                    "rebuilt (was invalid)"
                }
                None => "built",
            };
            let t0 = Instant::now();
            // One statement per call: never wrapped in a transaction block.
            client
                .batch_execute(&stmt)
                .await
                .step(format!("building index {name}"))?;
            let elapsed_ms = t0.elapsed().as_secs_f64() * 1e3;
            let size = catalog::index_size_bytes(&client, &qualified, &name).await?;
            steps.push(StepReport {
                kind: "index".into(),
                name,
                status: status.into(),
                elapsed_ms,
                size_bytes: Some(size),
            });
        } else {
            let t0 = Instant::now();
            client
                .batch_execute(&stmt)
                .await
                .step(format!("running {stmt}"))?;
            steps.push(StepReport {
                kind: if analyzed_table(&stmt).is_some() {
                    "analyze".into()
                } else {
                    "statement".into()
                },
                name: analyzed_table(&stmt).unwrap_or_else(|| stmt.clone()),
                status: "done".into(),
                elapsed_ms: t0.elapsed().as_secs_f64() * 1e3,
                size_bytes: None,
            });
        }
    }
    Ok(ApplyReport {
        kind: "chatsynth.explain.apply-indexes".into(),
        version: 1,
        applied_at,
        target: target.display.clone(),
        schema: target.schema.clone(),
        set: set.to_string(),
        steps,
    })
}

pub fn render(r: &ApplyReport) -> String {
    use std::fmt::Write;
    let mut s = format!(
        "index set {} on {} schema {}\n{:<8} {:<40} {:<22} {:>11} {:>12}\n",
        r.set, r.target, r.schema, "step", "name", "status", "elapsed ms", "size"
    );
    for st in &r.steps {
        let _ = writeln!(
            s,
            "{:<8} {:<40} {:<22} {:>11.1} {:>12}",
            st.kind,
            st.name,
            st.status,
            st.elapsed_ms,
            st.size_bytes.map(human_bytes).unwrap_or_else(|| "-".into())
        );
    }
    s
}

pub(crate) fn human_bytes(b: i64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_2_holds_the_three_candidates_then_analyzes() {
        let st = statements(PHASE_2);
        let built: Vec<String> = st.iter().filter_map(|s| created_index(s)).collect();
        assert_eq!(
            built,
            vec![
                "idx_messages_conversation_created_desc",
                "idx_conversation_users_user_active",
                "idx_conversations_updated_desc"
            ]
        );
        for s in st.iter().filter(|s| created_index(s).is_some()) {
            assert!(
                s.starts_with("CREATE INDEX CONCURRENTLY IF NOT EXISTS"),
                "{s}"
            );
        }
        let analyzed: Vec<String> = st.iter().filter_map(|s| analyzed_table(s)).collect();
        assert_eq!(
            analyzed,
            vec!["messages", "conversation_users", "conversations"]
        );
        assert_eq!(st.len(), 6);
        assert!(st[0].contains(r#"("conversationId", "createdAt" DESC)"#));
        assert!(st[1].contains(r#"INCLUDE ("conversationId")"#));
    }

    #[test]
    fn unknown_sets_are_config_errors() {
        assert!(matches!(set_sql("phase-9"), Err(Error::Config(_))));
        assert!(set_sql("phase-2").is_ok());
    }

    #[test]
    fn comments_and_blank_statements_are_dropped() {
        let st = statements("-- a; b\nSELECT 1; -- c\n\n;SELECT 2");
        assert_eq!(st, vec!["SELECT 1", "SELECT 2"]);
        assert_eq!(
            created_index("CREATE INDEX IF NOT EXISTS plain ON t (a)"),
            Some("plain".into())
        );
        assert_eq!(created_index("SELECT 1"), None);
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(8192), "8.0 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
