//! The `explain --compare --html` page: the decision and its rules, p50/p95
//! latency before and after for every query case, and the plan nodes that
//! changed (a line diff of each case's plan tree, before against after). Reads
//! the comparison and the two captures as JSON (the documents `explain`
//! writes and reads), so it follows their format, not the types behind it.

use minijinja::value::{Serde, Value};
use serde::{Deserialize, Serialize};

use super::charts::{self, LatencyRow};
use crate::error::{Error, Result};

#[derive(Deserialize)]
struct ComparisonView {
    go: bool,
    compared_at: String,
    before: String,
    after: String,
    before_captured_at: String,
    after_captured_at: String,
    #[serde(default)]
    rules: Vec<RuleView>,
    #[serde(default)]
    notes: Vec<String>,
    queries: Vec<QueryView>,
}

#[derive(Deserialize, Serialize)]
struct RuleView {
    rule: String,
    passed: bool,
    detail: String,
    #[serde(default)]
    mitigations: Vec<String>,
}

#[derive(Deserialize)]
struct QueryView {
    id: String,
    name: String,
    cases: Vec<CaseView>,
}

#[derive(Deserialize)]
struct CaseView {
    case: String,
    #[serde(default)]
    verdict: String,
    mean_improvement_pct: f64,
    p95_improvement_pct: f64,
}

#[derive(Deserialize)]
struct CaptureView {
    #[serde(default)]
    target: String,
    queries: Vec<CapturedQuery>,
}

#[derive(Deserialize)]
struct CapturedQuery {
    id: String,
    cases: Vec<CapturedCase>,
}

#[derive(Deserialize)]
struct CapturedCase {
    case: String,
    total_ms: StatsView,
    #[serde(default)]
    plan: serde_json::Value,
}

#[derive(Deserialize, Clone, Copy, Default)]
struct StatsView {
    p50: f64,
    p95: f64,
}

impl CaptureView {
    fn case(&self, query: &str, case: &str) -> Option<&CapturedCase> {
        self.queries
            .iter()
            .find(|q| q.id == query)?
            .cases
            .iter()
            .find(|c| c.case == case)
    }
}

/// One line of a plan tree: the node and what it reads, indented by depth.
/// Timings and row counts are left out: they differ on every run.
pub(crate) fn plan_lines(explain: &serde_json::Value) -> Vec<String> {
    let top = match explain {
        serde_json::Value::Array(items) => items.first().unwrap_or(explain),
        other => other,
    };
    let mut out = Vec::new();
    if let Some(root) = top.get("Plan") {
        walk(root, 0, &mut out);
    }
    out
}

fn walk(node: &serde_json::Value, depth: usize, out: &mut Vec<String>) {
    let s = |k: &str| node.get(k).and_then(|v| v.as_str());
    let mut line = format!("{}{}", "  ".repeat(depth), s("Node Type").unwrap_or("?"));
    if let Some(rel) = s("Parent Relationship").filter(|r| *r != "Outer" && *r != "Inner") {
        line = format!("{}[{rel}] {}", "  ".repeat(depth), line.trim_start());
    }
    if s("Scan Direction") == Some("Backward") {
        line.push_str(" Backward");
    }
    if let Some(i) = s("Index Name") {
        line.push_str(&format!(" using {i}"));
    }
    if let Some(r) = s("Relation Name") {
        line.push_str(&format!(" on {r}"));
    }
    if let Some(keys) = node.get("Sort Key").and_then(|v| v.as_array()) {
        let keys: Vec<&str> = keys.iter().filter_map(|k| k.as_str()).collect();
        line.push_str(&format!(" by {}", keys.join(", ")));
    }
    out.push(line);
    if let Some(children) = node.get("Plans").and_then(|v| v.as_array()) {
        for c in children {
            walk(c, depth + 1, out);
        }
    }
}

/// A line of a diff: unchanged (`same`), only before (`del`), only after (`add`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct DiffLine {
    pub op: &'static str,
    pub text: String,
}

/// Line diff by longest common subsequence (plans are a few dozen lines).
pub(crate) fn diff(before: &[String], after: &[String]) -> Vec<DiffLine> {
    let (n, m) = (before.len(), after.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if before[i] == after[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    let line = |op, text: &String| DiffLine {
        op,
        text: text.clone(),
    };
    while i < n || j < m {
        if i < n && j < m && before[i] == after[j] {
            out.push(line("same", &before[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(line("add", &after[j]));
            j += 1;
        } else {
            out.push(line("del", &before[i]));
            i += 1;
        }
    }
    out
}

#[derive(Serialize)]
struct CaseRow {
    query: String,
    name: String,
    case: String,
    p50_before: String,
    p50_after: String,
    p95_before: String,
    p95_after: String,
    mean_improvement_pct: String,
    p95_improvement_pct: String,
    verdict: String,
    /// faster, slower or same (for the colour).
    class: &'static str,
}

#[derive(Serialize)]
struct PlanChange {
    label: String,
    verdict: String,
    lines: Vec<DiffLine>,
}

fn pct(v: f64) -> String {
    format!("{v:+.0}%")
}

/// Renders the page from the comparison and the two captures (as JSON).
pub fn page(
    comparison: &serde_json::Value,
    before: &serde_json::Value,
    after: &serde_json::Value,
) -> Result<String> {
    let shape = |what: &str, e: serde_json::Error| {
        Error::Other(format!("the {what} lacks a field the page shows: {e}"))
    };
    let c: ComparisonView =
        serde_json::from_value(comparison.clone()).map_err(|e| shape("comparison", e))?;
    let b: CaptureView =
        serde_json::from_value(before.clone()).map_err(|e| shape("before capture", e))?;
    let a: CaptureView =
        serde_json::from_value(after.clone()).map_err(|e| shape("after capture", e))?;

    let mut latency = Vec::new();
    let mut cases = Vec::new();
    let mut changed = Vec::new();
    let mut unchanged = Vec::new();
    for q in &c.queries {
        for k in &q.cases {
            let label = format!("{} {}", q.id, k.case);
            let (cb, ca) = (b.case(&q.id, &k.case), a.case(&q.id, &k.case));
            let sb = cb.map(|x| x.total_ms).unwrap_or_default();
            let sa = ca.map(|x| x.total_ms).unwrap_or_default();
            latency.push(LatencyRow {
                label: label.clone(),
                p50_before: sb.p50,
                p50_after: sa.p50,
                p95_before: sb.p95,
                p95_after: sa.p95,
            });
            let class = if k.verdict.contains("faster") {
                "faster"
            } else if k.verdict.contains("slower") {
                "slower"
            } else {
                "same"
            };
            cases.push(CaseRow {
                query: q.id.clone(),
                name: q.name.clone(),
                case: k.case.clone(),
                p50_before: charts::fmt_ms(sb.p50),
                p50_after: charts::fmt_ms(sa.p50),
                p95_before: charts::fmt_ms(sb.p95),
                p95_after: charts::fmt_ms(sa.p95),
                mean_improvement_pct: pct(k.mean_improvement_pct),
                p95_improvement_pct: pct(k.p95_improvement_pct),
                verdict: k.verdict.clone(),
                class,
            });
            let pb = cb.map(|x| plan_lines(&x.plan)).unwrap_or_default();
            let pa = ca.map(|x| plan_lines(&x.plan)).unwrap_or_default();
            if pb == pa {
                unchanged.push(label);
            } else {
                changed.push(PlanChange {
                    label: format!("{label}: {}", q.name),
                    verdict: k.verdict.clone(),
                    lines: diff(&pb, &pa),
                });
            }
        }
    }
    let chart = super::svg_value(charts::latency_bars(
        "Latency per query case, before and after",
        &latency,
    ));
    let ctx = minijinja::context! {
        title => format!("chatsynth explain compare: {}", if c.go { "GO" } else { "NO-GO" }),
        go => c.go,
        compared_at => c.compared_at,
        before => c.before,
        after => c.after,
        before_captured_at => c.before_captured_at,
        after_captured_at => c.after_captured_at,
        target => b.target,
        rules => Value::from(Serde(&c.rules)),
        notes => c.notes,
        latency_svg => chart,
        cases => Value::from(Serde(&cases)),
        changed => Value::from(Serde(&changed)),
        unchanged => unchanged,
        version => env!("CARGO_PKG_VERSION"),
    };
    super::render("explain.html", ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(root: serde_json::Value) -> serde_json::Value {
        json!([{ "Plan": root, "Planning Time": 0.1, "Execution Time": 0.2 }])
    }

    #[test]
    fn plan_lines_name_nodes_relations_and_indexes() {
        let p = plan(json!({
            "Node Type": "Limit",
            "Plans": [{
                "Node Type": "Sort", "Sort Key": ["m.\"createdAt\" DESC"], "Parent Relationship": "Outer",
                "Plans": [{"Node Type": "Seq Scan", "Relation Name": "messages", "Parent Relationship": "Outer"}]
            }]
        }));
        assert_eq!(
            plan_lines(&p),
            [
                "Limit",
                "  Sort by m.\"createdAt\" DESC",
                "    Seq Scan on messages"
            ]
        );
        let q = plan(
            json!({"Node Type": "Index Scan", "Index Name": "i", "Relation Name": "t", "Scan Direction": "Backward"}),
        );
        assert_eq!(plan_lines(&q), ["Index Scan Backward using i on t"]);
        assert!(plan_lines(&json!(null)).is_empty());
    }

    #[test]
    fn diff_keeps_common_lines_and_marks_the_rest() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let d = diff(
            &s(&["Limit", "  Sort", "    Seq Scan on m"]),
            &s(&["Limit", "  Index Scan using i on m"]),
        );
        let ops: Vec<&str> = d.iter().map(|l| l.op).collect();
        assert_eq!(ops, ["same", "add", "del", "del"]);
        assert_eq!(d[1].text, "  Index Scan using i on m");
        assert!(diff(&s(&["a"]), &s(&["a"])).iter().all(|l| l.op == "same"));
    }
}
