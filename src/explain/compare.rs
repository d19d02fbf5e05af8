//! Comparison of two captures (before / after a candidate index set) and the
//! GO / NO-GO decision of docs/explain.md ("Reading the comparison"), with a reason and a mitigation for each
//! failing rule. Pure: tested on constructed captures.
//!
//! Latency is planning + execution per run. A query's improvement is the mean
//! of its cases' relative improvements; the rules average over the queries.
//! Changes within [`NOISE_PCT`] or [`NOISE_MS`] are "no measurable change"
//! (sub-millisecond queries on a small band jitter by more than 10% from run
//! to run), and the comparison never credits a candidate with a gain its plan
//! does not show.

use serde::{Deserialize, Serialize};

use super::capture::{Capture, CaseCapture};
use crate::model::Verdict;

pub(crate) const COMPARISON_KIND: &str = "chatsynth.explain.comparison";
pub(crate) const COMPARISON_VERSION: u32 = 1;
/// Required average improvement of mean and of p95 latency, percent.
pub(crate) const MIN_IMPROVEMENT_PCT: f64 = 30.0;
/// Required share of the Sort nodes present before that are gone.
pub(crate) const MIN_SORTS_ELIMINATED: f64 = 0.60;
/// A query is "slower" when its latency grew by more than this, percent.
pub(crate) const SLOWER_PCT: f64 = 10.0;
/// At most this many queries may be slower.
pub(crate) const MAX_SLOWER_QUERIES: usize = 1;
/// Changes smaller than this, percent, are reported as no measurable change.
pub(crate) const NOISE_PCT: f64 = 10.0;
/// Changes smaller than this, in ms, are noise whatever their percentage (this
/// floor also applies to the "slower" rule).
pub(crate) const NOISE_MS: f64 = 0.05;
/// Shared blocks (hit + read) per execution above which heap access is "high".
pub(crate) const HIGH_HEAP_BLOCKS: i64 = 1_000;

pub(crate) const MITIGATION_SORT: &str =
    "a Sort is still present: the index direction (or its columns) does not match the ORDER BY";
pub(crate) const MITIGATION_HEAP: &str = "high heap reads: make the index covering with INCLUDE";
pub(crate) const MITIGATION_NOT_USED: &str =
    "index not used: check selectivity and statistics (ANALYZE), consider a partial index";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseDelta {
    pub case: String,
    pub mean_ms_before: f64,
    pub mean_ms_after: f64,
    pub p95_ms_before: f64,
    pub p95_ms_after: f64,
    /// Positive: faster after. `(before - after) / before * 100`.
    pub mean_improvement_pct: f64,
    pub p95_improvement_pct: f64,
    pub sorts_before: usize,
    pub sorts_after: usize,
    pub indexes_before: Vec<String>,
    pub indexes_after: Vec<String>,
    /// Candidate indexes the after plan names.
    pub candidates_used: Vec<String>,
    pub seq_scans_large_before: Vec<String>,
    pub seq_scans_large_after: Vec<String>,
    pub shared_hit_before: i64,
    pub shared_read_before: i64,
    pub shared_hit_after: i64,
    pub shared_read_after: i64,
    pub same_params: bool,
    /// One line: faster / slower / no measurable change, and why.
    pub verdict: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryDelta {
    pub id: String,
    pub name: String,
    pub write: bool,
    pub targeted_by: Vec<String>,
    /// For a write: the table it changes.
    pub writes_to: Option<String>,
    pub mean_improvement_pct: f64,
    pub p95_improvement_pct: f64,
    /// `None` when no candidate targets the query; otherwise whether every
    /// case's plan after names one of its candidates.
    pub uses_candidate: Option<bool>,
    /// Mean over the cases of (after - before) mean latency, ms.
    pub mean_delta_ms: f64,
    pub cases: Vec<CaseDelta>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleResult {
    pub rule: String,
    pub passed: bool,
    pub detail: String,
    /// For a failing rule: what to do about it.
    pub mitigations: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub kind: String,
    pub version: u32,
    pub compared_at: String,
    pub before: String,
    pub after: String,
    pub before_captured_at: String,
    pub after_captured_at: String,
    /// Written as `"decision": "GO" | "NO-GO", "go": bool`.
    #[serde(flatten, with = "crate::model::run::decision_then_go")]
    pub verdict: Verdict,
    pub rules: Vec<RuleResult>,
    /// Honest per-query findings (gains, no gains, what already served a query).
    pub notes: Vec<String>,
    pub queries: Vec<QueryDelta>,
}

fn improvement(before: f64, after: f64) -> f64 {
    if before > 0.0 {
        (before - after) / before * 100.0
    } else {
        0.0
    }
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        s / n as f64
    }
}

/// An index on the scanned relation served the case before (no Sort, no
/// sequential scan of a large table, some index used).
fn served_by_existing(c: &CaseCapture) -> Option<String> {
    if c.has_sort || !c.seq_scans_large.is_empty() || c.indexes_used.is_empty() {
        return None;
    }
    let described: Vec<String> = c
        .scans
        .iter()
        .filter_map(|s| {
            s.index.as_ref().map(|i| match s.direction.as_deref() {
                Some("Backward") => format!("{i} (scanned backward)"),
                _ => i.clone(),
            })
        })
        .collect();
    Some(if described.is_empty() {
        c.indexes_used.join(", ")
    } else {
        described.join(", ")
    })
}

fn case_delta(targeted_by: &[String], b: &CaseCapture, a: &CaseCapture) -> CaseDelta {
    let mean_imp = improvement(b.total_ms.mean, a.total_ms.mean);
    let p95_imp = improvement(b.total_ms.p95, a.total_ms.p95);
    let candidates_used: Vec<String> = a
        .indexes_used
        .iter()
        .filter(|i| targeted_by.contains(i) || is_candidate_name(i))
        .cloned()
        .collect();
    let adopted_targeted = candidates_used.iter().any(|i| targeted_by.contains(i));
    let delta_ms = a.total_ms.mean - b.total_ms.mean;
    let faster = mean_imp > NOISE_PCT && -delta_ms > NOISE_MS;
    let slower = mean_imp < -NOISE_PCT && delta_ms > NOISE_MS;
    let change = if faster {
        format!("{mean_imp:.0}% faster")
    } else if slower {
        format!("{:.0}% slower", -mean_imp)
    } else {
        "no measurable change".to_string()
    };
    let verdict = if targeted_by.is_empty() {
        change
    } else if faster && adopted_targeted {
        format!("{change} with {}", candidates_used.join(", "))
    } else if faster {
        format!("{change}, but no candidate in the plan: not credited to the indexes")
    } else if let Some(existing) = served_by_existing(b) {
        if adopted_targeted {
            format!(
                "{change}: uses {} now, but {existing} already served it; no gain",
                candidates_used.join(", ")
            )
        } else {
            format!("{change}: {existing} already serves it; the candidate brought no gain")
        }
    } else {
        change
    };
    CaseDelta {
        case: b.case.clone(),
        mean_ms_before: b.total_ms.mean,
        mean_ms_after: a.total_ms.mean,
        p95_ms_before: b.total_ms.p95,
        p95_ms_after: a.total_ms.p95,
        mean_improvement_pct: mean_imp,
        p95_improvement_pct: p95_imp,
        sorts_before: b.sort_nodes,
        sorts_after: a.sort_nodes,
        indexes_before: b.indexes_used.clone(),
        indexes_after: a.indexes_used.clone(),
        candidates_used,
        seq_scans_large_before: b.seq_scans_large.clone(),
        seq_scans_large_after: a.seq_scans_large.clone(),
        shared_hit_before: b.shared_hit_blocks,
        shared_read_before: b.shared_read_blocks,
        shared_hit_after: a.shared_hit_blocks,
        shared_read_after: a.shared_read_blocks,
        same_params: b.params == a.params,
        verdict,
    }
}

/// The phase-2 candidates are named `idx_*`; Prisma's indexes never are.
fn is_candidate_name(i: &str) -> bool {
    super::queries::QUERIES
        .iter()
        .any(|q| q.targeted_by.contains(&i))
}

/// Compares two captures and decides. `before`/`after` name the files.
pub fn compare(before: &Capture, after: &Capture) -> Comparison {
    let (queries, missing) = query_deltas(before, after);
    let notes = queries
        .iter()
        .flat_map(|q| {
            q.cases
                .iter()
                .map(move |c| format!("{} {} {}: {}", q.id, q.name, c.case, c.verdict))
        })
        .collect();
    let rules = vec![
        rule_comparable(&queries, &missing),
        rule_latency(&queries, before, after),
        rule_sorts(&queries),
        rule_adoption(&queries, before),
        rule_regressions(&queries, before, after),
    ];
    Comparison {
        kind: COMPARISON_KIND.into(),
        version: COMPARISON_VERSION,
        compared_at: String::new(),
        before: String::new(),
        after: String::new(),
        before_captured_at: before.captured_at.clone(),
        after_captured_at: after.captured_at.clone(),
        verdict: Verdict::go_if(rules.iter().all(|r| r.passed)),
        rules,
        notes,
        queries,
    }
}

/// Per query and case, before against after; and the cases missing after.
fn query_deltas(before: &Capture, after: &Capture) -> (Vec<QueryDelta>, Vec<String>) {
    let mut queries = Vec::new();
    let mut missing = Vec::new();
    for bq in &before.queries {
        let Some(aq) = after.query(&bq.id) else {
            missing.push(format!("{} (whole query)", bq.id));
            continue;
        };
        let mut cases = Vec::new();
        for bc in &bq.cases {
            match aq.cases.iter().find(|c| c.case == bc.case) {
                Some(ac) => cases.push(case_delta(&bq.targeted_by, bc, ac)),
                None => missing.push(format!("{} {}", bq.id, bc.case)),
            }
        }
        if cases.is_empty() {
            continue;
        }
        let uses_candidate = if bq.targeted_by.is_empty() {
            None
        } else {
            Some(
                cases
                    .iter()
                    .all(|c| c.candidates_used.iter().any(|i| bq.targeted_by.contains(i))),
            )
        };
        queries.push(QueryDelta {
            id: bq.id.clone(),
            name: bq.name.clone(),
            write: bq.write,
            targeted_by: bq.targeted_by.clone(),
            writes_to: bq.writes_to.clone(),
            mean_improvement_pct: mean(cases.iter().map(|c| c.mean_improvement_pct)),
            p95_improvement_pct: mean(cases.iter().map(|c| c.p95_improvement_pct)),
            uses_candidate,
            mean_delta_ms: mean(cases.iter().map(|c| c.mean_ms_after - c.mean_ms_before)),
            cases,
        });
    }
    (queries, missing)
}

/// Rule 0: the captures must measure the same thing.
fn rule_comparable(queries: &[QueryDelta], missing: &[String]) -> RuleResult {
    let differing: Vec<String> = queries
        .iter()
        .flat_map(|q| {
            q.cases
                .iter()
                .filter(|c| !c.same_params)
                .map(move |c| format!("{} {}", q.id, c.case))
        })
        .collect();
    let comparable = differing.is_empty() && missing.is_empty();
    let mut detail = Vec::new();
    if !missing.is_empty() {
        detail.push(format!("missing after: {}", missing.join(", ")));
    }
    if !differing.is_empty() {
        detail.push(format!("different parameters: {}", differing.join(", ")));
    }
    RuleResult {
        rule: "the captures are comparable (same queries, cases and parameters)".into(),
        passed: comparable,
        detail: if comparable {
            "same parameters in every case".into()
        } else {
            detail.join("; ")
        },
        mitigations: if comparable {
            vec![]
        } else {
            vec![
                "capture AFTER with --params-from BEFORE.json so both use the same parameters"
                    .into(),
            ]
        },
    }
}

/// Rule 1: the mean and p95 latency improve enough on average.
fn rule_latency(queries: &[QueryDelta], before: &Capture, after: &Capture) -> RuleResult {
    let avg_mean = mean(queries.iter().map(|q| q.mean_improvement_pct));
    let avg_p95 = mean(queries.iter().map(|q| q.p95_improvement_pct));
    let latency_ok = avg_mean > MIN_IMPROVEMENT_PCT && avg_p95 > MIN_IMPROVEMENT_PCT;
    let mitigations = if latency_ok {
        vec![]
    } else {
        latency_mitigations(queries, before, after)
    };
    RuleResult {
        rule: format!("average latency improvement > {MIN_IMPROVEMENT_PCT:.0}% (mean and p95)"),
        passed: latency_ok,
        detail: format!(
            "mean {avg_mean:+.1}%, p95 {avg_p95:+.1}% over {} queries",
            queries.len()
        ),
        mitigations,
    }
}

/// The plan-level causes a query fell short of the latency target, one line
/// per cause naming the cases it applies to.
fn latency_causes(q: &QueryDelta, after: &Capture) -> Vec<String> {
    let mut causes: Vec<(String, Vec<String>)> = Vec::new();
    let mut add = |cause: String, case: &str| match causes.iter_mut().find(|c| c.0 == cause) {
        Some(c) => c.1.push(case.to_string()),
        None => causes.push((cause, vec![case.to_string()])),
    };
    for (c, ac) in q.cases.iter().zip(after_cases(after, &q.id)) {
        let Some(ac) = ac else { continue };
        if c.sorts_after > 0 {
            add(MITIGATION_SORT.to_string(), &c.case);
        }
        let blocks = ac.shared_hit_blocks + ac.shared_read_blocks;
        if !q.write && blocks >= HIGH_HEAP_BLOCKS && has_heap_scan(ac) {
            add(
                format!("{MITIGATION_HEAP} (>= {HIGH_HEAP_BLOCKS} shared blocks per execution)"),
                &c.case,
            );
        }
        if q.uses_candidate.is_some()
            && !c.candidates_used.iter().any(|i| q.targeted_by.contains(i))
        {
            add(MITIGATION_NOT_USED.to_string(), &c.case);
        }
    }
    causes
        .into_iter()
        .map(|(cause, cases)| format!("{} ({}): {cause}", q.id, cases.join(", ")))
        .collect()
}

/// Why the latency target was missed and what to do, query by query.
fn latency_mitigations(queries: &[QueryDelta], before: &Capture, after: &Capture) -> Vec<String> {
    let mut out = Vec::new();
    for q in queries {
        if q.mean_improvement_pct > MIN_IMPROVEMENT_PCT {
            continue;
        }
        out.extend(latency_causes(q, after));
    }
    let already: Vec<String> = queries
        .iter()
        .filter(|q| {
            !q.targeted_by.is_empty()
                && !measurably_faster(q)
                && before
                    .query(&q.id)
                    .is_some_and(|bq| bq.cases.iter().all(|c| served_by_existing(c).is_some()))
        })
        .map(|q| q.id.clone())
        .collect();
    if !already.is_empty() {
        out.push(format!(
            "{}: the existing indexes already served these queries before; the candidates cannot make them faster, so expect the gain elsewhere or drop those candidates",
            already.join(", ")
        ));
    }
    if out.is_empty() {
        out.push(
            "no plan-level cause found: re-capture with more --runs, or on a larger band where the queries are not already cheap".into(),
        );
    }
    out
}

/// Rule 2: enough of the Sort nodes present before are gone.
fn rule_sorts(queries: &[QueryDelta]) -> RuleResult {
    let sorts_before: usize = queries
        .iter()
        .flat_map(|q| &q.cases)
        .map(|c| c.sorts_before)
        .sum();
    let sorts_gone: usize = queries
        .iter()
        .flat_map(|q| &q.cases)
        .map(|c| c.sorts_before.saturating_sub(c.sorts_after))
        .sum();
    let (sorts_ok, sorts_detail) = if sorts_before == 0 {
        (
            true,
            "no Sort node before: nothing to eliminate".to_string(),
        )
    } else {
        let share = sorts_gone as f64 / sorts_before as f64;
        (
            share >= MIN_SORTS_ELIMINATED,
            format!(
                "{sorts_gone} of {sorts_before} Sort nodes gone ({:.0}%, need {:.0}%)",
                share * 100.0,
                MIN_SORTS_ELIMINATED * 100.0
            ),
        )
    };
    let sort_mitigations = if sorts_ok {
        vec![]
    } else {
        queries
            .iter()
            .flat_map(|q| {
                q.cases
                    .iter()
                    .filter(|c| c.sorts_after > 0)
                    .map(move |c| format!("{} {}: {MITIGATION_SORT}", q.id, c.case))
            })
            .collect()
    };
    RuleResult {
        rule: format!(
            "at least {:.0}% of the Sort nodes present before are gone",
            MIN_SORTS_ELIMINATED * 100.0
        ),
        passed: sorts_ok,
        detail: sorts_detail,
        mitigations: sort_mitigations,
    }
}

/// Rule 3: every query a candidate targets uses it.
fn rule_adoption(queries: &[QueryDelta], before: &Capture) -> RuleResult {
    let mut not_adopted = Vec::new();
    let mut adoption_mitigations = Vec::new();
    for q in queries.iter().filter(|q| q.uses_candidate == Some(false)) {
        let bq = before.query(&q.id);
        for c in q
            .cases
            .iter()
            .filter(|c| !c.candidates_used.iter().any(|i| q.targeted_by.contains(i)))
        {
            not_adopted.push(format!("{} {}", q.id, c.case));
            let existing = bq
                .and_then(|bq| bq.cases.iter().find(|bc| bc.case == c.case))
                .and_then(served_by_existing);
            let mut m = format!(
                "{} {}: {} is not in the plan after (it uses {}); {MITIGATION_NOT_USED}",
                q.id,
                c.case,
                q.targeted_by.join(" / "),
                if c.indexes_after.is_empty() {
                    "no index".to_string()
                } else {
                    c.indexes_after.join(", ")
                }
            );
            if let Some(e) = existing {
                m.push_str(&format!(
                    "; the existing {e} already serves it equally well, so the candidate is redundant for this query"
                ));
            }
            adoption_mitigations.push(m);
        }
    }
    let targeted = queries
        .iter()
        .filter(|q| q.uses_candidate.is_some())
        .count();
    RuleResult {
        rule: "every query a candidate index targets uses it".into(),
        passed: not_adopted.is_empty(),
        detail: if not_adopted.is_empty() {
            format!("all {targeted} targeted queries use their candidate in every case")
        } else {
            format!("not used in: {}", not_adopted.join(", "))
        },
        mitigations: adoption_mitigations,
    }
}

/// Rule 4: few queries got slower.
fn rule_regressions(queries: &[QueryDelta], before: &Capture, after: &Capture) -> RuleResult {
    let slower: Vec<&QueryDelta> = queries
        .iter()
        .filter(|q| q.mean_improvement_pct < -SLOWER_PCT && q.mean_delta_ms > NOISE_MS)
        .collect();
    let slower_ok = slower.len() <= MAX_SLOWER_QUERIES;
    RuleResult {
        rule: format!("at most {MAX_SLOWER_QUERIES} query slower by more than {SLOWER_PCT:.0}%"),
        passed: slower_ok,
        detail: if slower.is_empty() {
            "no query slower".into()
        } else {
            format!(
                "slower: {}",
                slower
                    .iter()
                    .map(|q| format!("{} ({:.0}%)", q.id, -q.mean_improvement_pct))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        mitigations: if slower_ok {
            vec![]
        } else {
            slower
                .iter()
                .map(|q| {
                    let new_on_table = new_indexes_on(before, after, q.writes_to.as_deref());
                    if !new_on_table.is_empty() {
                        format!(
                            "{}: a write now also maintains {} on its table; keep only the candidates that earn their cost",
                            q.id,
                            new_on_table.join(", ")
                        )
                    } else if q.write {
                        format!("{}: no new index on the table it writes; likely noise or cache state: re-capture with more --runs", q.id)
                    } else {
                        format!("{}: compare its raw plans in the two captures; re-capture with more --runs to rule out noise", q.id)
                    }
                })
                .collect()
        },
    }
}

fn after_cases<'a>(after: &'a Capture, id: &str) -> Vec<Option<&'a CaseCapture>> {
    match after.query(id) {
        Some(q) => q.cases.iter().map(Some).collect(),
        None => vec![],
    }
}

/// Faster by more than the noise in both relative and absolute terms.
fn measurably_faster(q: &QueryDelta) -> bool {
    q.mean_improvement_pct > NOISE_PCT && -q.mean_delta_ms > NOISE_MS
}

/// Indexes on `table` in the after capture that the before capture lacked.
fn new_indexes_on(before: &Capture, after: &Capture, table: Option<&str>) -> Vec<String> {
    let Some(t) = table else { return vec![] };
    let old = before.indexes.get(t).cloned().unwrap_or_default();
    after
        .indexes
        .get(t)
        .map(|v| v.iter().filter(|i| !old.contains(i)).cloned().collect())
        .unwrap_or_default()
}

fn has_heap_scan(c: &CaseCapture) -> bool {
    c.heap_fetches > 0
        || c.scans
            .iter()
            .any(|s| matches!(s.node.as_str(), "Index Scan" | "Bitmap Heap Scan"))
}

/// The terminal rendering: the table, the decision, the rules.
pub fn render(c: &Comparison) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "before: {} ({})", c.before, c.before_captured_at);
    let _ = writeln!(s, "after:  {} ({})", c.after, c.after_captured_at);
    let _ = writeln!(
        s,
        "latency = planning + execution, ms; change < 0 is faster\n{:<4} {:<8} {:>17} {:>8} {:>17} {:>8} {:>6} {:<5} {:>19}  verdict",
        "q", "case", "mean before→after", "change", "p95 before→after", "change", "sorts", "cand", "hit/read before→after"
    );
    for q in &c.queries {
        for d in &q.cases {
            let _ = writeln!(
                s,
                "{:<4} {:<8} {:>17} {:>8} {:>17} {:>8} {:>6} {:<5} {:>19}  {}",
                q.id,
                d.case,
                format!("{:.3}→{:.3}", d.mean_ms_before, d.mean_ms_after),
                format!("{:+.1}%", -d.mean_improvement_pct),
                format!("{:.3}→{:.3}", d.p95_ms_before, d.p95_ms_after),
                format!("{:+.1}%", -d.p95_improvement_pct),
                format!("{}→{}", d.sorts_before, d.sorts_after),
                match q.uses_candidate {
                    None => "-",
                    Some(_) if d.candidates_used.iter().any(|i| q.targeted_by.contains(i)) => "yes",
                    Some(_) => "no",
                },
                format!(
                    "{}/{}→{}/{}",
                    d.shared_hit_before,
                    d.shared_read_before,
                    d.shared_hit_after,
                    d.shared_read_after
                ),
                d.verdict
            );
        }
    }
    let _ = writeln!(s, "\ndecision: {}", c.verdict.as_str());
    for r in &c.rules {
        let _ = writeln!(
            s,
            "  [{}] {}: {}",
            if r.passed { "pass" } else { "FAIL" },
            r.rule,
            r.detail
        );
        for m in &r.mitigations {
            let _ = writeln!(s, "         mitigation: {m}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::capture::{QueryCapture, Stats, CAPTURE_KIND, CAPTURE_VERSION};
    use crate::explain::plan::ScanInfo;
    use crate::explain::queries::{Param, QUERIES};
    use std::collections::BTreeMap;

    /// A case with `ms` mean and p95 latency, the given indexes and sorts.
    fn case(name: &str, ms: f64, indexes: &[&str], sorts: usize) -> CaseCapture {
        let st = Stats {
            p50: ms,
            p95: ms,
            max: ms,
            mean: ms,
        };
        CaseCapture {
            case: name.into(),
            description: String::new(),
            params: vec![Param::text("p", name)],
            execution_ms: st,
            planning_ms: Stats::default(),
            total_ms: st,
            node_types: vec![],
            sort_nodes: sorts,
            has_sort: sorts > 0,
            seq_scans: vec![],
            seq_scans_large: vec![],
            indexes_used: indexes.iter().map(|s| s.to_string()).collect(),
            scans: indexes
                .iter()
                .map(|i| ScanInfo {
                    node: "Index Scan".into(),
                    relation: Some("t".into()),
                    index: Some(i.to_string()),
                    direction: Some("Forward".into()),
                })
                .collect(),
            shared_hit_blocks: 10,
            shared_read_blocks: 0,
            heap_fetches: 0,
            plan: serde_json::Value::Null,
        }
    }

    /// A capture where every query has heavy/typical cases at `ms(query)`,
    /// using `idx(query)` indexes and `sorts(query)` Sort nodes.
    fn capture(
        ms: impl Fn(&str) -> f64,
        idx: impl Fn(&str) -> Vec<&'static str>,
        sorts: impl Fn(&str) -> usize,
    ) -> Capture {
        Capture {
            kind: CAPTURE_KIND.into(),
            version: CAPTURE_VERSION,
            captured_at: "t".into(),
            target: "x".into(),
            schema: "public".into(),
            server_version: "15".into(),
            runs: 10,
            warmup_runs: 2,
            params_from: None,
            large_table_min_rows: 10_000,
            table_rows: BTreeMap::new(),
            large_tables: vec![],
            indexes: BTreeMap::new(),
            warnings: vec![],
            queries: QUERIES
                .iter()
                .map(|q| QueryCapture {
                    id: q.id.into(),
                    name: q.name.into(),
                    write: q.write,
                    p95_target_ms: q.p95_target_ms,
                    targeted_by: q.targeted_by.iter().map(|s| s.to_string()).collect(),
                    writes_to: q.writes_to.map(str::to_string),
                    sql: String::new(),
                    cases: ["heavy", "typical"]
                        .iter()
                        .map(|c| case(c, ms(q.id), &idx(q.id), sorts(q.id)))
                        .collect(),
                })
                .collect(),
        }
    }

    const OLD_MSG: &str = "messages_conversationId_createdAt_idx";
    const OLD_CU: &str = "conversation_users_userId_isActive_idx";

    fn before_idx(q: &str) -> Vec<&'static str> {
        match q {
            "Q1" | "Q4" => vec![OLD_MSG],
            "Q3" => vec![OLD_CU, "conversations_pkey"],
            _ => vec![],
        }
    }

    fn after_idx(q: &str) -> Vec<&'static str> {
        match q {
            "Q1" | "Q4" => vec!["idx_messages_conversation_created_desc"],
            "Q3" => vec!["idx_conversation_users_user_active", "conversations_pkey"],
            _ => vec![],
        }
    }

    fn rule<'a>(c: &'a Comparison, starts: &str) -> &'a RuleResult {
        c.rules.iter().find(|r| r.rule.starts_with(starts)).unwrap()
    }

    /// Sorts before on Q1 and Q3; after: half the time everywhere, sorts gone, adopted.
    fn good_pair() -> (Capture, Capture) {
        let sorts_before = |q: &str| usize::from(q == "Q1" || q == "Q3");
        let before = capture(|_| 10.0, before_idx, sorts_before);
        let after = capture(|_| 5.0, after_idx, |_| 0);
        (before, after)
    }

    #[test]
    fn go_when_every_rule_holds() {
        let (b, a) = good_pair();
        let c = compare(&b, &a);
        assert!(c.verdict.is_go(), "{}", render(&c));
        assert_eq!(c.verdict.as_str(), "GO");
        assert!(c.rules.iter().all(|r| r.passed && r.mitigations.is_empty()));
        assert_eq!(c.queries.len(), 6);
        assert_eq!(c.queries[0].uses_candidate, Some(true));
        assert_eq!(c.queries[1].uses_candidate, None);
    }

    #[test]
    fn no_go_when_latency_gain_is_below_30_percent() {
        let (b, _) = good_pair();
        let a = capture(|_| 8.0, after_idx, |_| 0);
        let c = compare(&b, &a);
        assert!(!c.verdict.is_go());
        let r = rule(&c, "average latency");
        assert!(!r.passed);
        assert!(!r.mitigations.is_empty());
        assert!(rule(&c, "at least 60%").passed);
    }

    #[test]
    fn no_go_when_only_p95_misses() {
        let (b, mut a) = good_pair();
        for q in &mut a.queries {
            for c in &mut q.cases {
                c.total_ms.p95 = 9.0;
            }
        }
        let c = compare(&b, &a);
        assert!(!rule(&c, "average latency").passed);
        assert!(rule(&c, "average latency").detail.contains("p95 +10.0%"));
    }

    #[test]
    fn no_go_when_sorts_remain() {
        let (b, _) = good_pair();
        // Q1's sorts gone, Q3's remain: 2 of 4 = 50% < 60%.
        let a = capture(|_| 5.0, after_idx, |q| usize::from(q == "Q3"));
        let c = compare(&b, &a);
        let r = rule(&c, "at least 60%");
        assert!(!r.passed, "{}", r.detail);
        assert!(r.detail.contains("2 of 4"));
        assert!(r
            .mitigations
            .iter()
            .all(|m| m.contains(MITIGATION_SORT) && m.starts_with("Q3")));
        assert!(!c.verdict.is_go());
    }

    #[test]
    fn no_sorts_before_is_not_a_failure() {
        let b = capture(|_| 10.0, before_idx, |_| 0);
        let a = capture(|_| 5.0, after_idx, |_| 0);
        let c = compare(&b, &a);
        assert!(rule(&c, "at least 60%").passed);
        assert!(c.verdict.is_go());
    }

    #[test]
    fn no_go_when_a_targeted_query_keeps_its_old_index_and_says_why() {
        let (b, _) = good_pair();
        // Q1 keeps Prisma's index (a backward scan serves its DESC order).
        let a = capture(
            |_| 5.0,
            |q| {
                if q == "Q1" {
                    vec![OLD_MSG]
                } else {
                    after_idx(q)
                }
            },
            |_| 0,
        );
        let c = compare(&b, &a);
        let r = rule(&c, "every query a candidate");
        assert!(!r.passed);
        assert!(r.detail.contains("Q1 heavy") && r.detail.contains("Q1 typical"));
        assert!(r
            .mitigations
            .iter()
            .all(|m| m.contains(MITIGATION_NOT_USED)));
        assert_eq!(c.queries[0].uses_candidate, Some(false));
        assert!(!c.verdict.is_go());
    }

    #[test]
    fn no_go_when_two_queries_get_slower() {
        let (b, _) = good_pair();
        let a = capture(
            |q| match q {
                "Q2" | "Q5" => 12.0,
                _ => 2.0,
            },
            after_idx,
            |_| 0,
        );
        let c = compare(&b, &a);
        assert!(rule(&c, "average latency").passed);
        let r = rule(&c, "at most 1 query");
        assert!(!r.passed);
        assert!(r.detail.contains("Q2") && r.detail.contains("Q5"));
        assert!(
            r.mitigations[0].contains("no new index"),
            "{:?}",
            r.mitigations
        );
        let mut a_idx = a.clone();
        a_idx.indexes.insert(
            "messages".into(),
            vec![crate::explain::queries::IDX_MESSAGES_DESC.into()],
        );
        let r2 = compare(&b, &a_idx);
        let m = &rule(&r2, "at most 1 query").mitigations;
        assert!(
            m[0].starts_with(
                "Q2: a write now also maintains idx_messages_conversation_created_desc"
            ),
            "{m:?}"
        );
        assert!(m[1].starts_with("Q5: no new index"), "{m:?}");
        // One slower query is allowed.
        let a1 = capture(|q| if q == "Q2" { 12.0 } else { 2.0 }, after_idx, |_| 0);
        assert!(compare(&b, &a1).verdict.is_go());
    }

    #[test]
    fn sub_millisecond_jitter_is_not_a_regression() {
        // 0.030 -> 0.040 ms is +33% but 0.01 ms: noise, not "slower".
        let b = capture(|_| 0.030, before_idx, |_| 0);
        let a = capture(|_| 0.040, after_idx, |_| 0);
        let c = compare(&b, &a);
        assert!(rule(&c, "at most 1 query").passed);
        assert!(c.queries[5].cases[0]
            .verdict
            .starts_with("no measurable change"));
        assert!(!rule(&c, "average latency").passed);
    }

    #[test]
    fn different_parameters_make_the_captures_incomparable() {
        let (b, mut a) = good_pair();
        a.queries[0].cases[0].params = vec![Param::text("p", "other")];
        let c = compare(&b, &a);
        let r = rule(&c, "the captures are comparable");
        assert!(!r.passed);
        assert!(r.detail.contains("Q1 heavy"));
        assert!(r.mitigations[0].contains("--params-from"));
        assert!(!c.verdict.is_go());
        a.queries.pop();
        let c = compare(&b, &a);
        assert!(rule(&c, "the captures are comparable")
            .detail
            .contains("Q6"));
    }

    #[test]
    fn never_invents_a_gain_where_an_existing_index_already_served() {
        // Nothing changes in latency; Q1 now names the candidate.
        let b = capture(|_| 1.0, before_idx, |_| 0);
        let a = capture(|_| 1.0, after_idx, |_| 0);
        let c = compare(&b, &a);
        assert!(!c.verdict.is_go());
        let q1 = &c.queries[0].cases[0];
        assert!(
            q1.verdict.contains("no measurable change"),
            "{}",
            q1.verdict
        );
        assert!(
            q1.verdict.contains("already served it; no gain"),
            "{}",
            q1.verdict
        );
        let lat = rule(&c, "average latency");
        assert!(lat
            .mitigations
            .iter()
            .any(|m| m.contains("already served these queries")));
        // A gain without the candidate in the plan is not credited to it.
        let a2 = capture(|_| 0.5, before_idx, |_| 0);
        let c2 = compare(&b, &a2);
        assert!(c2.queries[0].cases[0].verdict.contains("not credited"));
    }
}
