//! `chatsynth explain` against the real PostgreSQL: capture on a loaded tiny
//! band, reuse of the baseline's parameters, the candidate index set (built and
//! idempotent), and the comparison's decision and exit code. Timings are never
//! asserted: only shapes, parameters, catalog state and exit codes.

mod common;

use std::path::{Path, PathBuf};

use common::{apply_schema, chatsynth, run_tiny_load, stderr, stdout, TestDb};
use serde_json::Value;

const CANDIDATES: [&str; 3] = [
    "idx_messages_conversation_created_desc",
    "idx_conversation_users_user_active",
    "idx_conversations_updated_desc",
];

fn out_dir(tag: &str) -> PathBuf {
    let d = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("chatsynth-explain-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// (query id, case) -> params, from a capture.
fn params_of(cap: &Value) -> Vec<(String, String, Value)> {
    let mut v = Vec::new();
    for q in cap["queries"].as_array().unwrap() {
        for c in q["cases"].as_array().unwrap() {
            v.push((
                q["id"].as_str().unwrap().to_string(),
                c["case"].as_str().unwrap().to_string(),
                c["params"].clone(),
            ));
        }
    }
    v
}

fn param<'a>(cap: &'a Value, q: &str, case: &str, name: &str) -> &'a Value {
    let qv = cap["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == q)
        .unwrap();
    let cv = qv["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["case"] == case)
        .unwrap();
    &cv["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{q} {case} has no parameter {name}"))["value"]
}

#[tokio::test]
async fn capture_reuse_apply_and_compare_on_a_loaded_tiny_band() {
    let db = TestDb::new("explain").await;
    let client = db.client().await;
    let schema = "chat";
    let dir = out_dir("flow");
    let load = run_tiny_load(
        &db.url,
        &[
            "--schema",
            schema,
            "--report",
            path_str(&dir.join("load.json")),
        ],
    );
    assert!(load.status.success(), "load failed: {}", stderr(&load));
    let messages_before: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM \"{schema}\".\"messages\""),
            &[],
        )
        .await
        .unwrap()
        .get(0);

    // Baseline capture.
    let before_path = dir.join("before.json");
    let o = chatsynth(&[
        "explain",
        "--database-url",
        &db.url,
        "--schema",
        schema,
        "--runs",
        "2",
        "--out",
        path_str(&before_path),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("Q6"), "{}", stdout(&o));
    let before = read_json(&before_path);
    assert_eq!(before["kind"], "chatsynth.explain.capture");
    assert_eq!(before["schema"], schema);
    let ids: Vec<&str> = before["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["Q1", "Q2", "Q3", "Q4", "Q5", "Q6"]);
    for q in before["queries"].as_array().unwrap() {
        let cases: Vec<&str> = q["cases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["case"].as_str().unwrap())
            .collect();
        assert_eq!(cases, ["heavy", "typical"], "{}", q["id"]);
        for c in q["cases"].as_array().unwrap() {
            assert!(
                c["plan"][0]["Plan"]["Node Type"].is_string(),
                "{} has no plan",
                q["id"]
            );
            assert!(!c["node_types"].as_array().unwrap().is_empty());
            assert!(!c["params"].as_array().unwrap().is_empty());
            for k in ["execution_ms", "planning_ms", "total_ms"] {
                for s in ["p50", "p95", "max"] {
                    assert!(c[k][s].is_number(), "{} {k}.{s}", q["id"]);
                }
            }
            assert!(c["has_sort"].is_boolean());
            assert!(c["seq_scans_large"].is_array());
            assert!(c["shared_hit_blocks"].is_number());
            assert!(c["shared_read_blocks"].is_number());
        }
    }
    assert!(before["large_tables"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "messages"));

    // The heavy room has at least as many messages as the typical one; Q4's user is a member.
    let count = |room: String| {
        let client = &client;
        async move {
            client
                .query_one(
                    &format!("SELECT count(*) FROM \"{schema}\".\"messages\" WHERE \"conversationId\" = $1"),
                    &[&room],
                )
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };
    let heavy = param(&before, "Q1", "heavy", "conversationId")
        .as_str()
        .unwrap()
        .to_string();
    let typical = param(&before, "Q1", "typical", "conversationId")
        .as_str()
        .unwrap()
        .to_string();
    assert!(count(heavy.clone()).await >= count(typical).await);
    let q4_user = param(&before, "Q4", "heavy", "userId")
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        param(&before, "Q4", "heavy", "conversationId")
            .as_str()
            .unwrap(),
        heavy
    );
    let member: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM \"{schema}\".\"conversation_users\" WHERE \"conversationId\" = $1 AND \"userId\" = $2"),
            &[&heavy, &q4_user],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(member, 1, "Q4's user must be a member of its room");
    let batch = param(&before, "Q5", "heavy", "messageIds")
        .as_array()
        .unwrap()
        .len();
    assert!((10..=50).contains(&batch), "Q5 batch of {batch}");
    // The writes were rolled back.
    let messages_after: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM \"{schema}\".\"messages\""),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(messages_before, messages_after, "Q2 must be rolled back");

    // Candidate indexes: built, valid, idempotent.
    for round in 0..2 {
        let apply_path = dir.join(format!("apply-{round}.json"));
        let o = chatsynth(&[
            "explain",
            "--database-url",
            &db.url,
            "--schema",
            schema,
            "--apply-indexes",
            "phase-2",
            "--out",
            path_str(&apply_path),
        ]);
        assert_eq!(o.status.code(), Some(0), "round {round}: {}", stderr(&o));
        let rep = read_json(&apply_path);
        let statuses: Vec<&str> = rep["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["kind"] == "index")
            .map(|s| s["status"].as_str().unwrap())
            .collect();
        let want = if round == 0 {
            "built"
        } else {
            "already present"
        };
        assert_eq!(statuses, [want; 3], "round {round}");
        for s in rep["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["kind"] == "index")
        {
            assert!(s["size_bytes"].as_i64().unwrap() > 0);
        }
        let rows = client
            .query(
                "SELECT i.relname::text, x.indisvalid FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
                 JOIN pg_namespace n ON n.oid = i.relnamespace WHERE n.nspname = $1 AND i.relname LIKE 'idx\\_%' ORDER BY 1",
                &[&schema],
            )
            .await
            .unwrap();
        let mut names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        names.sort();
        let mut want_names: Vec<String> = CANDIDATES.iter().map(|s| s.to_string()).collect();
        want_names.sort();
        assert_eq!(names, want_names);
        assert!(
            rows.iter().all(|r| r.get::<_, bool>(1)),
            "every candidate valid"
        );
    }

    // After capture reusing the baseline's parameters.
    let after_path = dir.join("after.json");
    let o = chatsynth(&[
        "explain",
        "--database-url",
        &db.url,
        "--schema",
        schema,
        "--runs",
        "2",
        "--params-from",
        path_str(&before_path),
        "--out",
        path_str(&after_path),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let after = read_json(&after_path);
    assert_eq!(params_of(&before), params_of(&after));
    assert_eq!(after["params_from"], path_str(&before_path));
    let indexes_after = after["indexes"]["messages"].as_array().unwrap();
    assert!(indexes_after.iter().any(|i| i == CANDIDATES[0]));

    // Comparison: a decision, an exit code that matches it, a JSON file.
    let cmp_path = dir.join("compare.json");
    let o = chatsynth(&[
        "explain",
        "--compare",
        path_str(&before_path),
        path_str(&after_path),
        "--out",
        path_str(&cmp_path),
    ]);
    let out = stdout(&o);
    assert!(out.contains("decision: "), "{out}\n{}", stderr(&o));
    let cmp = read_json(&cmp_path);
    let go = cmp["go"].as_bool().unwrap();
    assert_eq!(o.status.code(), Some(if go { 0 } else { 1 }), "{out}");
    assert_eq!(cmp["decision"], if go { "GO" } else { "NO-GO" });
    assert_eq!(cmp["queries"].as_array().unwrap().len(), 6);
    assert_eq!(cmp["rules"].as_array().unwrap().len(), 5);
    assert!(
        cmp["rules"][0]["passed"].as_bool().unwrap(),
        "same parameters"
    );
    for r in cmp["rules"].as_array().unwrap() {
        if !r["passed"].as_bool().unwrap() {
            assert!(!r["mitigations"].as_array().unwrap().is_empty(), "{r}");
        }
    }
    // Honesty: a gain is only credited to a candidate the plan after names.
    for q in cmp["queries"].as_array().unwrap() {
        for c in q["cases"].as_array().unwrap() {
            let v = c["verdict"].as_str().unwrap();
            if v.contains(" with idx_") {
                assert!(!c["candidates_used"].as_array().unwrap().is_empty(), "{v}");
            }
        }
    }

    // Comparing a capture with one of different parameters is a NO-GO, not a gain.
    let fresh_path = dir.join("fresh.json");
    let mut fresh = before.clone();
    fresh["queries"][0]["cases"][0]["params"][1]["value"] = Value::from(20);
    std::fs::write(&fresh_path, fresh.to_string()).unwrap();
    let o = chatsynth(&[
        "explain",
        "--compare",
        path_str(&before_path),
        path_str(&fresh_path),
        "--out",
        path_str(&dir.join("compare-2.json")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("--params-from"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn capture_on_an_empty_schema_says_to_load_first() {
    let db = TestDb::new("explain").await;
    let client = db.client().await;
    apply_schema(&client, "public").await;
    let dir = out_dir("empty");
    let o = chatsynth(&[
        "explain",
        "--database-url",
        &db.url,
        "--runs",
        "1",
        "--out",
        path_str(&dir.join("x.json")),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("load a dataset first"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.join("x.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compare_refuses_bad_input_files_with_exit_2() {
    let dir = out_dir("bad");
    let not_json = dir.join("not.json");
    std::fs::write(&not_json, "nope").unwrap();
    let other_kind = dir.join("other.json");
    std::fs::write(&other_kind, r#"{"kind":"chatsynth.load","version":1}"#).unwrap();
    for (a, b) in [
        (dir.join("missing.json"), not_json.clone()),
        (not_json.clone(), not_json.clone()),
        (other_kind.clone(), other_kind.clone()),
    ] {
        let o = chatsynth(&["explain", "--compare", path_str(&a), path_str(&b)]);
        assert_eq!(o.status.code(), Some(2), "{a:?} {b:?}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));
    }
    let o = chatsynth(&[
        "explain",
        "--apply-indexes",
        "phase-9",
        "--database-url",
        "postgres://postgres@127.0.0.1:1/x",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}
