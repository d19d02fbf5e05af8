//! Plan analysis: turns one `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` result
//! into the facts a capture records (node types, Sorts, sequential scans on
//! large tables, indexes used, buffers, timings). Pure: no database here, so it
//! is tested on recorded plans.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One scan node of a plan: what it read and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanInfo {
    /// `Seq Scan`, `Index Scan`, `Index Only Scan`, `Bitmap Heap Scan`, `Bitmap Index Scan`...
    pub node: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// `Forward` or `Backward` for index scans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
}

/// What one executed plan shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanFacts {
    /// Distinct node types, in the order first met (depth first, InitPlans and SubPlans included).
    pub node_types: Vec<String>,
    /// Number of `Sort` and `Incremental Sort` nodes.
    pub sort_nodes: usize,
    /// Relations read by a sequential scan.
    pub seq_scans: Vec<String>,
    /// Indexes named by any index, index-only or bitmap index scan.
    pub indexes_used: Vec<String>,
    pub scans: Vec<ScanInfo>,
    /// Shared buffers hit / read by the whole plan (the root node's inclusive counts).
    pub shared_hit_blocks: i64,
    pub shared_read_blocks: i64,
    /// Heap fetches of index-only scans (0 when the visibility map covers every page).
    pub heap_fetches: i64,
    pub execution_ms: f64,
    pub planning_ms: f64,
}

impl PlanFacts {
    pub(crate) fn has_sort(&self) -> bool {
        self.sort_nodes > 0
    }

    /// Sequential scans touching one of the `large` relations.
    pub(crate) fn seq_scans_large(&self, is_large: impl Fn(&str) -> bool) -> Vec<String> {
        self.seq_scans
            .iter()
            .filter(|r| is_large(r))
            .cloned()
            .collect()
    }
}

/// Why a plan could not be read.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("unexpected EXPLAIN output: {0}")]
pub struct PlanShapeError(pub String);

/// Reads the output of `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`: an array
/// holding one object with `Plan`, `Planning Time` and `Execution Time`.
pub fn analyze(explain: &Value) -> Result<PlanFacts, PlanShapeError> {
    let top = match explain {
        Value::Array(items) => items
            .first()
            .ok_or_else(|| PlanShapeError("empty array".into()))?,
        Value::Object(_) => explain,
        _ => return Err(PlanShapeError("neither an array nor an object".into())),
    };
    let root = top
        .get("Plan")
        .ok_or_else(|| PlanShapeError("no \"Plan\" key".into()))?;
    let mut facts = PlanFacts {
        execution_ms: top
            .get("Execution Time")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        planning_ms: top
            .get("Planning Time")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        shared_hit_blocks: root
            .get("Shared Hit Blocks")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        shared_read_blocks: root
            .get("Shared Read Blocks")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        ..PlanFacts::default()
    };
    walk(root, &mut facts)?;
    Ok(facts)
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

fn walk(node: &Value, facts: &mut PlanFacts) -> Result<(), PlanShapeError> {
    let kind = node
        .get("Node Type")
        .and_then(Value::as_str)
        .ok_or_else(|| PlanShapeError("a plan node without \"Node Type\"".into()))?;
    push_unique(&mut facts.node_types, kind);
    let relation = node.get("Relation Name").and_then(Value::as_str);
    let index = node.get("Index Name").and_then(Value::as_str);
    match kind {
        "Sort" | "Incremental Sort" => facts.sort_nodes += 1,
        "Seq Scan" | "Parallel Seq Scan" => {
            if let Some(r) = relation {
                push_unique(&mut facts.seq_scans, r);
            }
        }
        _ => {}
    }
    if let Some(i) = index {
        push_unique(&mut facts.indexes_used, i);
    }
    if kind.contains("Scan") && (relation.is_some() || index.is_some()) {
        facts.scans.push(ScanInfo {
            node: kind.to_string(),
            relation: relation.map(str::to_string),
            index: index.map(str::to_string),
            direction: index
                .and(node.get("Scan Direction").and_then(Value::as_str))
                .map(str::to_string),
        });
    }
    facts.heap_fetches += node
        .get("Heap Fetches")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if let Some(children) = node.get("Plans").and_then(Value::as_array) {
        for child in children {
            walk(child, facts)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Q1 before the candidates: Prisma's ascending index scanned backward.
    fn backward_scan_plan() -> Value {
        json!([{
          "Plan": {
            "Node Type": "Limit", "Parallel Aware": false, "Actual Rows": 50,
            "Shared Hit Blocks": 53, "Shared Read Blocks": 2,
            "Plans": [{
              "Node Type": "Index Scan", "Parent Relationship": "Outer",
              "Scan Direction": "Backward",
              "Index Name": "messages_conversationId_createdAt_idx",
              "Relation Name": "messages", "Alias": "m",
              "Shared Hit Blocks": 53, "Shared Read Blocks": 2
            }]
          },
          "Planning": {"Shared Hit Blocks": 12, "Shared Read Blocks": 0},
          "Planning Time": 0.21, "Triggers": [], "Execution Time": 0.134
        }])
    }

    #[test]
    fn index_scan_backward_is_recorded_with_its_direction() {
        let f = analyze(&backward_scan_plan()).unwrap();
        assert_eq!(f.node_types, vec!["Limit", "Index Scan"]);
        assert_eq!(f.sort_nodes, 0);
        assert!(!f.has_sort());
        assert!(f.seq_scans.is_empty());
        assert_eq!(
            f.indexes_used,
            vec!["messages_conversationId_createdAt_idx"]
        );
        assert_eq!(f.scans[0].direction.as_deref(), Some("Backward"));
        assert_eq!((f.shared_hit_blocks, f.shared_read_blocks), (53, 2));
        assert_eq!(f.execution_ms, 0.134);
        assert_eq!(f.planning_ms, 0.21);
    }

    #[test]
    fn sort_over_a_seq_scan_of_a_large_table() {
        let plan = json!([{
          "Plan": {
            "Node Type": "Limit", "Shared Hit Blocks": 900, "Shared Read Blocks": 4000,
            "Plans": [{
              "Node Type": "Sort", "Sort Key": ["m.\"createdAt\" DESC"],
              "Plans": [{
                "Node Type": "Seq Scan", "Relation Name": "messages", "Alias": "m",
                "Filter": "(\"conversationId\" = 'x')"
              }]
            }]
          },
          "Planning Time": 0.3, "Execution Time": 41.5
        }]);
        let f = analyze(&plan).unwrap();
        assert_eq!(f.sort_nodes, 1);
        assert!(f.has_sort());
        assert_eq!(f.seq_scans, vec!["messages"]);
        assert_eq!(f.seq_scans_large(|t| t == "messages"), vec!["messages"]);
        assert!(f.seq_scans_large(|t| t == "users").is_empty());
        assert!(f.indexes_used.is_empty());
        assert_eq!(f.shared_read_blocks, 4000);
    }

    #[test]
    fn bitmap_heap_scan_names_the_index_of_its_bitmap_child() {
        let plan = json!([{
          "Plan": {
            "Node Type": "Aggregate", "Strategy": "Plain",
            "Shared Hit Blocks": 20, "Shared Read Blocks": 0,
            "Plans": [{
              "Node Type": "Bitmap Heap Scan", "Relation Name": "messages",
              "Plans": [{
                "Node Type": "Bitmap Index Scan",
                "Index Name": "idx_messages_conversation_created_desc"
              }]
            }]
          },
          "Planning Time": 0.1, "Execution Time": 0.5
        }]);
        let f = analyze(&plan).unwrap();
        assert_eq!(
            f.node_types,
            vec!["Aggregate", "Bitmap Heap Scan", "Bitmap Index Scan"]
        );
        assert_eq!(
            f.indexes_used,
            vec!["idx_messages_conversation_created_desc"]
        );
        assert_eq!(f.scans.len(), 2);
        assert_eq!(f.scans[0].relation.as_deref(), Some("messages"));
        assert_eq!(f.scans[0].index, None);
    }

    #[test]
    fn init_plans_subplans_and_nested_joins_are_walked() {
        let plan = json!([{
          "Plan": {
            "Node Type": "Aggregate", "Shared Hit Blocks": 7, "Shared Read Blocks": 1,
            "Plans": [
              {
                "Node Type": "Index Only Scan", "Parent Relationship": "InitPlan",
                "Subplan Name": "InitPlan 1 (returns $0)",
                "Index Name": "idx_conversation_users_user_active",
                "Relation Name": "conversation_users", "Scan Direction": "Forward",
                "Heap Fetches": 3
              },
              {
                "Node Type": "Nested Loop", "Join Type": "Anti",
                "Plans": [
                  {"Node Type": "Seq Scan", "Relation Name": "messages"},
                  {
                    "Node Type": "Incremental Sort",
                    "Plans": [{
                      "Node Type": "Index Scan", "Relation Name": "message_reads",
                      "Index Name": "message_reads_userId_messageId_key",
                      "Scan Direction": "Forward"
                    }]
                  }
                ]
              },
              {
                "Node Type": "Seq Scan", "Parent Relationship": "SubPlan",
                "Relation Name": "messages"
              }
            ]
          },
          "Planning Time": 0.1, "Execution Time": 0.5
        }]);
        let f = analyze(&plan).unwrap();
        assert_eq!(
            f.node_types,
            vec![
                "Aggregate",
                "Index Only Scan",
                "Nested Loop",
                "Seq Scan",
                "Incremental Sort",
                "Index Scan"
            ]
        );
        assert_eq!(f.sort_nodes, 1);
        assert_eq!(f.seq_scans, vec!["messages"], "deduplicated");
        assert_eq!(
            f.indexes_used,
            vec![
                "idx_conversation_users_user_active",
                "message_reads_userId_messageId_key"
            ]
        );
        assert_eq!(f.heap_fetches, 3);
        assert_eq!(f.scans.len(), 4);
    }

    #[test]
    fn insert_plan_has_no_scans() {
        let plan = json!([{
          "Plan": {
            "Node Type": "ModifyTable", "Operation": "Insert", "Relation Name": "messages",
            "Shared Hit Blocks": 30, "Shared Read Blocks": 0,
            "Plans": [{"Node Type": "Result"}]
          },
          "Planning Time": 0.05, "Triggers": [{"Trigger Name": "RI_ConstraintTrigger_c_1", "Time": 0.1, "Calls": 1}],
          "Execution Time": 0.4
        }]);
        let f = analyze(&plan).unwrap();
        assert_eq!(f.node_types, vec!["ModifyTable", "Result"]);
        assert!(f.scans.is_empty());
    }

    #[test]
    fn malformed_output_is_an_error_not_a_panic() {
        assert!(analyze(&json!([])).is_err());
        assert!(analyze(&json!("x")).is_err());
        assert!(analyze(&json!([{"Plan": {"Plans": []}}])).is_err());
        assert!(analyze(&json!([{"Execution Time": 1.0}])).is_err());
    }
}
