//! The per-table fingerprints in the run report: the same for any number of
//! workers and any chunk size, different for another seed, and equal between
//! `generate` and `load` of the same config. The counts give every pass
//! several units, so the order in which threads finish units varies.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::*;

const SIZE: [&str; 6] = [
    "--users",
    "9000",
    "--conversations",
    "5000",
    "--messages",
    "60000",
];

fn report_path(tag: &str) -> PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "chatsynth-fingerprint-{}-{tag}.json",
        std::process::id()
    ))
}

/// Table name -> (rows, fingerprint) from a run report.
fn fingerprints(report: &PathBuf) -> BTreeMap<String, (u64, String)> {
    let text = std::fs::read_to_string(report).expect("report written");
    let _ = std::fs::remove_file(report);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = BTreeMap::new();
    for phase in v["phases"].as_array().unwrap() {
        for t in phase["tables"].as_array().unwrap() {
            let name = t["table"].as_str().unwrap().to_string();
            let fp = t["fingerprint"].as_str().unwrap().to_string();
            out.insert(name, (t["rows"].as_u64().unwrap(), fp));
        }
    }
    assert_eq!(
        out.len(),
        TABLES.len(),
        "one fingerprint per table: {out:?}"
    );
    out
}

fn generate(tag: &str, extra: &[&str]) -> BTreeMap<String, (u64, String)> {
    let report = report_path(tag);
    let r = report.to_string_lossy().into_owned();
    let mut args = vec!["generate", "--band", "tiny", "--discard", "--report", &r];
    args.extend_from_slice(&SIZE);
    args.extend_from_slice(extra);
    let out = chatsynth(&args);
    assert!(out.status.success(), "generate failed: {}", stderr(&out));
    fingerprints(&report)
}

#[tokio::test]
async fn fingerprints_ignore_workers_follow_the_seed_and_match_between_generate_and_load() {
    let one = generate("w1", &["--workers", "1"]);
    let three = generate("w3", &["--workers", "3", "--chunk-kib", "16"]);
    let other_seed = generate("seed43", &["--workers", "2", "--seed", "43"]);
    for (t, (rows, fp)) in &one {
        assert!(*rows > 0, "{t} has no rows");
        assert_ne!(
            fp,
            &"0".repeat(32),
            "{t}: empty fingerprint for {rows} rows"
        );
        assert_eq!(
            &three[t].1, fp,
            "{t}: 1 and 3 workers gave different fingerprints"
        );
        assert_ne!(
            &other_seed[t].1, fp,
            "{t}: another seed gave the same fingerprint"
        );
    }

    let db = TestDb::new("fingerprint").await;
    let report = report_path("load");
    let r = report.to_string_lossy().into_owned();
    let mut args = vec![
        "load",
        "--band",
        "tiny",
        "--database-url",
        &db.url,
        "--workers",
        "2",
        "--streams",
        "2",
        "--report",
        &r,
    ];
    args.extend_from_slice(&SIZE);
    let out = chatsynth(&args);
    assert!(out.status.success(), "load failed: {}", stderr(&out));
    let loaded = fingerprints(&report);
    assert_eq!(loaded, one, "load and generate reports disagree");
}
