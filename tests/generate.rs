//! `generate` writes the same bytes for any number of workers: the files
//! restore the canonical unit order whatever order the generator threads
//! finish their units in. The counts are sized so every pass has several
//! units (users 3, conversations 3, messages 4) and every unit many chunks.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn generate(dir: &Path, workers: usize) {
    let report = dir.join("report.json");
    let out = chatsynth(&[
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
        &workers.to_string(),
        "--out",
        &dir.to_string_lossy(),
        "--report",
        &report.to_string_lossy(),
    ]);
    assert!(
        out.status.success(),
        "generate --workers {workers} failed: {}",
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
