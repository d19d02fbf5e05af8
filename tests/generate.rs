//! `generate` writes the same bytes for any number of workers: the files
//! restore the canonical unit order whatever order the generator threads
//! finish their units in. The counts are sized so every pass has several
//! units (users 3, conversations 3, messages 4) and every unit many chunks.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn generate(dir: &Path, workers: usize) {
    generate_with(dir, workers, &[]);
}

fn generate_with(dir: &Path, workers: usize, extra: &[&str]) {
    let report = dir.join("report.json");
    let workers_arg = workers.to_string();
    let mut args = vec![
        "generate",
        "--band",
        "tiny",
        "--users",
        "9000",
        "--conversations",
        "5000",
        "--messages",
        "60000",
        "--chunk-kib",
        "16",
        "--workers",
        &workers_arg,
        "--out",
        dir.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = chatsynth(&args);
    assert!(
        out.status.success(),
        "generate --workers {workers} {extra:?} failed: {}",
        stderr(&out)
    );
}

fn dir_for(workers: usize) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "chatsynth-generate-{}-w{workers}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn files_are_byte_identical_for_one_two_and_three_workers() {
    let dirs: Vec<PathBuf> = [1, 2, 3]
        .into_iter()
        .map(|w| {
            let d = dir_for(w);
            generate(&d, w);
            d
        })
        .collect();
    for t in TABLES {
        let name = format!("{t}.pgcopy");
        let one = std::fs::read(dirs[0].join(&name)).unwrap();
        // More than the header and trailer: every table has rows.
        assert!(one.len() > 21, "{name} holds no rows");
        assert!(one.starts_with(b"PGCOPY\n\xff\r\n\0"), "{name} header");
        assert!(one.ends_with(&[0xff, 0xff]), "{name} trailer");
        for (d, w) in dirs.iter().zip([1, 2, 3]).skip(1) {
            let other = std::fs::read(d.join(&name)).unwrap();
            assert_eq!(
                one.len(),
                other.len(),
                "{name}: 1 worker and {w} workers wrote different lengths"
            );
            assert!(
                one == other,
                "{name}: 1 worker and {w} workers wrote different bytes"
            );
        }
        assert!(
            !dirs[0].join(format!("{t}.pgcopy.partial")).exists(),
            "no temporary file is left"
        );
    }
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// The rows of a PGCOPY file, each as its bytes (field count, lengths and
/// values), after checking the header and the trailer.
fn rows_of(file: &[u8]) -> Vec<Vec<u8>> {
    const HEADER: usize = 19;
    assert!(file.starts_with(b"PGCOPY\n\xff\r\n\0"), "header");
    assert!(file.ends_with(&[0xff, 0xff]), "trailer");
    let body = &file[HEADER..file.len() - 2];
    let mut rows = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let start = at;
        let fields = i16::from_be_bytes([body[at], body[at + 1]]);
        at += 2;
        for _ in 0..fields {
            let len = i32::from_be_bytes(body[at..at + 4].try_into().unwrap());
            at += 4 + len.max(0) as usize;
        }
        rows.push(body[start..at].to_vec());
    }
    assert_eq!(at, body.len(), "rows end where the trailer begins");
    rows
}

fn fingerprints(dir: &Path) -> std::collections::HashMap<String, u128> {
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    r["phases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["tables"].as_array().unwrap().iter())
        .map(|t| {
            let hex = t["fingerprint"].as_str().unwrap();
            (
                t["table"].as_str().unwrap().to_string(),
                u128::from_str_radix(hex, 16).unwrap(),
            )
        })
        .collect()
}

/// Three shards (`generate --shard i/3`) hold exactly one whole run's rows:
/// per table, the same multiset of row bytes, and fingerprints that add up to
/// the whole run's.
#[test]
fn three_shards_together_hold_exactly_the_whole_runs_rows() {
    let whole = dir_for(100);
    generate(&whole, 2);
    let shards: Vec<PathBuf> = (0..3)
        .map(|i| {
            let d = dir_for(200 + i);
            generate_with(&d, 2, &["--shard", &format!("{i}/3")]);
            d
        })
        .collect();
    let whole_fp = fingerprints(&whole);
    let shard_fps: Vec<_> = shards.iter().map(|d| fingerprints(d)).collect();
    for t in TABLES {
        let name = format!("{t}.pgcopy");
        let mut expected = rows_of(&std::fs::read(whole.join(&name)).unwrap());
        let mut got = Vec::new();
        for (i, d) in shards.iter().enumerate() {
            let part = rows_of(&std::fs::read(d.join(&name)).unwrap());
            // Every shard has a share of every table at these counts.
            assert!(!part.is_empty(), "shard {i} wrote no {t} rows");
            assert!(part.len() < expected.len(), "shard {i} wrote all of {t}");
            got.extend(part);
        }
        assert_eq!(got.len(), expected.len(), "{t}: row count of the shards");
        expected.sort_unstable();
        got.sort_unstable();
        assert!(
            got == expected,
            "{t}: the shards' rows differ from the whole run's"
        );
        let sum = shard_fps
            .iter()
            .fold(0u128, |acc, f| acc.wrapping_add(f[t]));
        assert_eq!(
            sum, whole_fp[t],
            "{t}: shard fingerprints add up to the whole run's"
        );
    }
    // A shard index out of range is refused before anything is written.
    let bad = dir_for(300);
    let _ = std::fs::remove_dir_all(&bad);
    let out = chatsynth(&[
        "generate",
        "--band",
        "tiny",
        "--shard",
        "3/3",
        "--out",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--shard"), "{}", stderr(&out));
    assert!(!bad.exists(), "nothing written for a bad shard");
    for d in shards.into_iter().chain([whole]) {
        let _ = std::fs::remove_dir_all(d);
    }
}
