//! `chatsynth profile`, `profile --compare` and `validate --against` against the
//! real server, on a "production" database built in plain SQL
//! (tests/fixtures/production.sql, no chatsynth generator) whose shape differs
//! from every band preset.

mod common;

use std::path::{Path, PathBuf};

use common::{apply_schema, chatsynth, checksums, count, stderr, stdout, TestDb};
use serde_json::Value;

const FIXTURE: &str = include_str!("fixtures/production.sql");

/// A database holding the production fixture with `rooms` rooms and `seed`.
async fn production(tag: &str, rooms: u32, seed: f64) -> TestDb {
    let db = TestDb::new(tag).await;
    let c = db.client().await;
    apply_schema(&c, "public").await;
    c.batch_execute(&format!(
        "SET fixture.rooms = '{rooms}'; SET fixture.seed = '{seed}';"
    ))
    .await
    .unwrap();
    c.batch_execute(FIXTURE).await.unwrap();
    db
}

fn dir(db: &TestDb) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("chatsynth-profile-{}", db.name));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn profile(db: &TestDb, out: &Path) -> String {
    let o = chatsynth(&[
        "profile",
        "--database-url",
        &db.url,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    stdout(&o)
}

/// Runs `profile --compare`; returns (exit code, comparison JSON, stdout).
fn compare(old: &Path, new: &Path, out: &Path, tolerance: &str) -> (i32, Value, String) {
    let o = chatsynth(&[
        "profile",
        "--compare",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--tolerance",
        tolerance,
        "--out",
        out.to_str().unwrap(),
    ]);
    let code = o.status.code().unwrap();
    assert!(code == 0 || code == 1, "{}\n{}", stdout(&o), stderr(&o));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    (code, v, stdout(&o))
}

fn failed(v: &Value) -> Vec<String> {
    v["comparison"]["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// What must not change while a profile runs: the catalog, every row, no
/// temporary objects, no prepared transactions.
async fn state(db: &TestDb) -> (String, Vec<String>, i64, i64) {
    let c = db.client().await;
    let catalog: String = c
        .query_one(
            "SELECT string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text || ':' || c.relfilenode::text, ',' \
                               ORDER BY n.nspname, c.relname) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let temp = count(
        &c,
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname LIKE 'pg_temp%' OR c.relpersistence = 't'",
    )
    .await;
    let prepared = count(
        &c,
        "SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()",
    )
    .await;
    (catalog, checksums(&c, "public").await, temp, prepared)
}

/// Every substring of every string (key or value) of a JSON document. Each
/// secret holds a letter, a space or a colon, so it could only leak inside a
/// JSON string; looking it up here is exact and fast.
fn string_windows(v: &Value) -> std::collections::HashSet<String> {
    fn walk(v: &Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::String(s) => {
                out.insert(s.clone());
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => {
                for (k, x) in o {
                    out.insert(k.clone());
                    walk(x, out);
                }
            }
            _ => {}
        }
    }
    let mut tokens = std::collections::BTreeSet::new();
    walk(v, &mut tokens);
    let mut set = std::collections::HashSet::new();
    for t in &tokens {
        let bounds: Vec<usize> = (0..=t.len()).filter(|&i| t.is_char_boundary(i)).collect();
        for (i, &a) in bounds.iter().enumerate() {
            for &b in &bounds[i + 1..] {
                set.insert(t[a..b].to_string());
            }
        }
    }
    set
}

/// Every identifying string of the source database.
async fn secrets(db: &TestDb) -> Vec<String> {
    let c = db.client().await;
    let sql = r#"
        SELECT "id" FROM "users" UNION ALL SELECT "email" FROM "users"
        UNION ALL SELECT "username" FROM "users" UNION ALL SELECT "firstName" FROM "users" WHERE "firstName" IS NOT NULL
        UNION ALL SELECT "lastName" FROM "users" WHERE "lastName" IS NOT NULL
        UNION ALL SELECT "id" FROM "conversations" UNION ALL SELECT "name" FROM "conversations" WHERE "name" IS NOT NULL
        UNION ALL SELECT "id" FROM "conversation_users"
        UNION ALL SELECT "id" FROM "messages" UNION ALL SELECT "content" FROM "messages" WHERE "content" IS NOT NULL
        UNION ALL SELECT "idempotencyKey" FROM "messages"
        UNION ALL SELECT "id" FROM "attachments" UNION ALL SELECT "filename" FROM "attachments"
        UNION ALL SELECT "originalName" FROM "attachments" UNION ALL SELECT "url" FROM "attachments"
        UNION ALL SELECT "id" FROM "message_reads" UNION ALL SELECT "id" FROM "message_receipts"
        UNION ALL SELECT to_char("createdAt", 'YYYY-MM-DD HH24:MI:SS') FROM "messages"
        UNION ALL SELECT to_char("createdAt", 'YYYY-MM-DD"T"HH24:MI:SS') FROM "messages""#;
    c.query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

/// The production fixture: profiled read-only (even on a database whose
/// sessions default to read-only), privately, and compared: with itself GO,
/// with a tiny chatsynth load NO-GO naming the differing metrics, with the same
/// shape at half the size and another seed GO; `validate --against` on the
/// tiny load NO-GO.
#[tokio::test(flavor = "multi_thread")]
async fn production_profile_is_private_read_only_and_tells_shapes_apart() {
    let prod = production("prof_prod", 2500, 0.25).await;
    let d = dir(&prod);
    let shape = d.join("shape.json");

    // Read-only: every session of the database defaults to read-only, and
    // nothing changes while the profile runs.
    prod.client()
        .await
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" SET default_transaction_read_only = on",
            prod.name
        ))
        .await
        .unwrap();
    let before = state(&prod).await;
    let summary = profile(&prod, &shape);
    let after = state(&prod).await;
    assert_eq!(before, after, "the profiled database changed");
    assert_eq!(after.2, 0, "temporary objects left");
    assert_eq!(after.3, 0, "prepared transactions left");
    assert!(summary.contains("conversation types"), "{summary}");

    // Aggregates of the fixture's shape, not chatsynth's.
    let text = std::fs::read_to_string(&shape).unwrap();
    let p: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(p["format_version"], 1);
    assert_eq!(p["privacy"]["min_bucket"], 10);
    let group = p["conversations"]["types"]["shares"]["GROUP_CHAT"]
        .as_f64()
        .unwrap();
    assert!((0.40..0.50).contains(&group), "group share {group}");
    let image = p["messages"]["types"]["shares"]["IMAGE"].as_f64().unwrap();
    assert!((0.27..0.33).contains(&image), "image share {image}");
    let rooms = p["counts"]["conversations"].as_u64().unwrap();
    assert_eq!(rooms, 2500);
    assert_eq!(
        p["messages_per_conversation"]["per_conversation"]["at"]
            .as_object()
            .unwrap()
            .len()
            + 3,
        108,
        "with 2500 rooms and k = 10 exactly p99.7..p99.9 are suppressed"
    );
    let suppressed = p["privacy"]["suppressed"].as_array().unwrap();
    assert!(suppressed
        .iter()
        .any(|s| s.as_str().unwrap()
            == "messages_per_conversation.per_conversation.p99.7,p99.8,p99.9"));
    let hours = &p["messages"]["hour_by_weekday"]["counts"];
    let by_hour: Vec<u64> = (0..24)
        .map(|h| (0..7).map(|d| hours[d][h].as_u64().unwrap_or(0)).sum())
        .collect();
    let peak = (0..24).max_by_key(|&h| by_hour[h]).unwrap();
    assert!(
        (0..=4).contains(&peak),
        "night-time peak expected, got {peak}"
    );

    // Private: no identifier, address, name, text or exact time of any row.
    let windows = string_windows(&p);
    let secrets = secrets(&prod).await;
    assert!(secrets.len() > 100_000, "{} strings", secrets.len());
    let leaked: Vec<&String> = secrets
        .iter()
        .filter(|s| windows.contains(s.as_str()))
        .take(5)
        .collect();
    assert!(
        leaked.is_empty(),
        "the profile holds source strings: {leaked:?}"
    );

    // Compared with itself: GO.
    let (code, v, _) = compare(&shape, &shape, &d.join("self.json"), "0.2");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["decision"], "GO");
    assert!(failed(&v).is_empty());

    // The same shape at half the size, another seed: GO at 0.20.
    let half = production("prof_half", 1250, -0.5).await;
    let half_shape = d.join("half.json");
    profile(&half, &half_shape);
    let (code, v, out) = compare(&shape, &half_shape, &d.join("half-cmp.json"), "0.2");
    assert_eq!(code, 0, "the same shape at half size must pass: {out}");
    assert!((v["comparison"]["scale_factor"].as_f64().unwrap() - 0.5).abs() < 0.1);

    // A tiny chatsynth load: NO-GO, naming the metrics that differ.
    let tiny = TestDb::new("prof_tiny").await;
    let o = chatsynth(&[
        "load",
        "--band",
        "tiny",
        "--database-url",
        &tiny.url,
        "--report",
        d.join("load.json").to_str().unwrap(),
        "--no-progress",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let tiny_shape = d.join("tiny.json");
    profile(&tiny, &tiny_shape);
    let (code, v, out) = compare(&shape, &tiny_shape, &d.join("tiny-cmp.json"), "0.2");
    assert_eq!(code, 1, "{out}");
    assert_eq!(v["decision"], "NO-GO");
    let f = failed(&v);
    for m in [
        "conversations.types.GROUP_CHAT",
        "messages.types.IMAGE",
        "messages.hour_curve",
        "messages.text_length",
    ] {
        assert!(f.iter().any(|x| x == m), "{m} not among the failures {f:?}");
    }
    assert!(
        out.contains("NO-GO") && out.contains("messages.hour_curve"),
        "{out}"
    );

    // validate --against: the loaded dataset against production's profile.
    let result = d.join("against.json");
    let o = chatsynth(&[
        "validate",
        "--database-url",
        &tiny.url,
        "--against",
        shape.to_str().unwrap(),
        "--out",
        result.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}\n{}", stdout(&o), stderr(&o));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
    assert_eq!(v["decision"], "NO-GO");
    let f = failed(&v);
    assert!(f.iter().any(|x| x == "messages.types.IMAGE"), "{f:?}");
    let metric = v["comparison"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "conversations.types.GROUP_CHAT")
        .unwrap();
    for key in ["production", "dataset", "distance", "pass"] {
        assert!(!metric[key].is_null(), "{key} missing in {metric}");
    }
    assert_eq!(metric["pass"], false);

    // Bad input: one clear error, exit 2, nothing written.
    let bad_version = d.join("v2.json");
    std::fs::write(
        &bad_version,
        text.replace("\"format_version\": 1", "\"format_version\": 2"),
    )
    .unwrap();
    let mut partial: Value = p.clone();
    partial.as_object_mut().unwrap().remove("delivery");
    let missing = d.join("missing.json");
    std::fs::write(&missing, serde_json::to_string_pretty(&partial).unwrap()).unwrap();
    let nothing = d.join("must-not-exist.json");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "profile",
                "--compare",
                bad_version.to_str().unwrap(),
                shape.to_str().unwrap(),
            ],
            "format_version 2",
        ),
        (
            vec![
                "profile",
                "--compare",
                shape.to_str().unwrap(),
                missing.to_str().unwrap(),
            ],
            "missing field `delivery`",
        ),
        (
            vec![
                "profile",
                "--compare",
                shape.to_str().unwrap(),
                shape.to_str().unwrap(),
                "--tolerance",
                "0",
            ],
            "--tolerance",
        ),
        (
            vec![
                "profile",
                "--compare",
                shape.to_str().unwrap(),
                shape.to_str().unwrap(),
                "--tolerance",
                "1.5",
            ],
            "--tolerance",
        ),
        (
            vec![
                "validate",
                "--database-url",
                &tiny.url,
                "--against",
                missing.to_str().unwrap(),
            ],
            "missing field `delivery`",
        ),
        (
            vec![
                "validate",
                "--database-url",
                &tiny.url,
                "--against",
                shape.to_str().unwrap(),
                "--tolerance",
                "2",
            ],
            "--tolerance",
        ),
    ];
    for (mut args, expect) in cases {
        args.extend(["--out", nothing.to_str().unwrap()]);
        let o = chatsynth(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains(expect), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one clear error: {err}");
        assert!(!nothing.exists(), "{args:?} wrote a file");
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// A database without the chat tables: exit 2, nothing written.
#[tokio::test(flavor = "multi_thread")]
async fn a_database_without_the_chat_tables_is_refused() {
    let db = TestDb::new("prof_empty").await;
    let d = dir(&db);
    let out = d.join("shape.json");
    let o = chatsynth(&[
        "profile",
        "--database-url",
        &db.url,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("does not hold the chat tables"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists());
    for bad in [
        ["--sample", "0"],
        ["--sample", "101"],
        ["--min-bucket", "0"],
        ["--statement-timeout", "soon"],
    ] {
        let o = chatsynth(&[
            "profile",
            "--database-url",
            &db.url,
            "--out",
            out.to_str().unwrap(),
            bad[0],
            bad[1],
        ]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(bad[0]), "{bad:?}: {}", stderr(&o));
        assert!(!out.exists());
    }
    let _ = std::fs::remove_dir_all(&d);
}

/// Runs `validate --against`; returns (exit code, result JSON).
fn against(db: &TestDb, shape: &Path, out: &Path) -> (i32, Value) {
    let o = chatsynth(&[
        "validate",
        "--database-url",
        &db.url,
        "--against",
        shape.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let code = o.status.code().unwrap();
    assert!(code == 0 || code == 1, "{}\n{}", stdout(&o), stderr(&o));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    (code, v)
}

/// The files of `generate --out dir`, by table.
fn generated(dir: &Path) -> Vec<(String, Vec<u8>)> {
    common::TABLES
        .iter()
        .map(|t| {
            let name = format!("{t}.pgcopy");
            (name.clone(), std::fs::read(dir.join(&name)).unwrap())
        })
        .collect()
}

fn generate(args: &[&str], dir: &Path) -> Value {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let report = dir.join("report.json");
    let mut all = vec!["generate", "--chunk-kib", "16"];
    all.extend_from_slice(args);
    let (d, r) = (dir.to_str().unwrap(), report.to_str().unwrap());
    all.extend(["--out", d, "--report", r]);
    let o = chatsynth(&all);
    assert!(o.status.success(), "{all:?}: {}", stderr(&o));
    serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap()
}

/// The loop closed: production is profiled, a dataset is loaded from the
/// profile at half its size, and `validate --against` says GO; a preset load
/// of the same counts says NO-GO and names the differing metrics. The fitted
/// generator writes the same bytes for any number of workers, and the
/// report's `dataset` object rebuilds the same bytes without the profile.
#[tokio::test(flavor = "multi_thread")]
async fn a_load_fitted_to_the_profile_passes_the_gate_and_the_preset_does_not() {
    let prod = production("fit_prod", 2500, 0.25).await;
    let d = dir(&prod);
    let shape = d.join("shape.json");
    profile(&prod, &shape);
    let text = std::fs::read_to_string(&shape).unwrap();
    let p: Value = serde_json::from_str(&text).unwrap();

    // load --profile --scale 0.5: half production's counts, its shape.
    let fitted = TestDb::new("fit_gen").await;
    let report = d.join("fitted-load.json");
    let o = chatsynth(&[
        "load",
        "--profile",
        shape.to_str().unwrap(),
        "--scale",
        "0.5",
        "--database-url",
        &fitted.url,
        "--report",
        report.to_str().unwrap(),
        "--no-progress",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let counts = &r["dataset"]["counts"];
    for (k, src) in [
        ("users", "users"),
        ("conversations", "conversations"),
        ("messages", "messages"),
    ] {
        let want = (p["counts"][src].as_f64().unwrap() * 0.5).round();
        assert_eq!(counts[k].as_f64().unwrap(), want, "{k}");
    }
    assert!(
        r["dataset"]["shape"]["fitted"]["messages_per_conversation"]["points"]
            .as_array()
            .unwrap()
            .len()
            > 100,
        "the report records the fitted curves"
    );
    let (code, v) = against(&fitted, &shape, &d.join("fitted-against.json"));
    assert_eq!(code, 0, "fitted load must pass: failed {:?}", failed(&v));
    assert_eq!(v["decision"], "GO");
    // The plan's own checks (integrity, counts, messages per room) pass too;
    // the parametric shape checks are handed to --against.
    let o = chatsynth(&[
        "validate",
        "--database-url",
        &fitted.url,
        "--report",
        report.to_str().unwrap(),
        "--out",
        d.join("fitted-validate.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("fitted to a profile"), "{}", stdout(&o));

    // The preset shape at the same counts: NO-GO, naming what differs.
    let preset = TestDb::new("fit_preset").await;
    let (u, c, m) = (
        counts["users"].to_string(),
        counts["conversations"].to_string(),
        counts["messages"].to_string(),
    );
    let o = chatsynth(&[
        "load",
        "--band",
        "tiny",
        "--users",
        &u,
        "--conversations",
        &c,
        "--messages",
        &m,
        "--database-url",
        &preset.url,
        "--no-progress",
        "--report",
        d.join("preset-load.json").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (code, v) = against(&preset, &shape, &d.join("preset-against.json"));
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["decision"], "NO-GO");
    let f = failed(&v);
    for name in [
        "conversations.types.GROUP_CHAT",
        "messages.types.IMAGE",
        "messages.hour_curve",
        "messages.text_length",
        "delivery.read_delay_seconds",
    ] {
        assert!(f.iter().any(|x| x == name), "{name} not among {f:?}");
    }

    // Same seed, same bytes, for 1 and 3 workers; and the report's dataset
    // object alone (no profile) rebuilds them.
    let args = ["--profile", shape.to_str().unwrap(), "--scale", "0.5"];
    let (one, three, rebuilt) = (d.join("w1"), d.join("w3"), d.join("rebuilt"));
    let mut a1 = args.to_vec();
    a1.extend(["--workers", "1"]);
    let g1 = generate(&a1, &one);
    let mut a3 = args.to_vec();
    a3.extend(["--workers", "3"]);
    generate(&a3, &three);
    let dataset = d.join("dataset.json");
    std::fs::write(&dataset, g1["dataset"].to_string()).unwrap();
    generate(
        &["--config", dataset.to_str().unwrap(), "--workers", "2"],
        &rebuilt,
    );
    let reference = generated(&one);
    assert!(
        reference.iter().all(|(_, b)| b.len() > 21),
        "every table has rows"
    );
    assert_eq!(reference, generated(&three), "1 and 3 workers differ");
    assert_eq!(
        reference,
        generated(&rebuilt),
        "the report's dataset does not rebuild the data"
    );
    // A different seed gives other bytes (the comparison can fail).
    let mut other = args.to_vec();
    other.extend(["--seed", "7"]);
    generate(&other, &d.join("seed7"));
    assert_ne!(reference, generated(&d.join("seed7")));

    // Bad input: one clear error, exit 2, nothing written.
    let bad_version = d.join("v2.json");
    std::fs::write(
        &bad_version,
        text.replace("\"format_version\": 1", "\"format_version\": 2"),
    )
    .unwrap();
    let mut partial: Value = p.clone();
    partial.as_object_mut().unwrap().remove("messages");
    let missing = d.join("missing.json");
    std::fs::write(&missing, serde_json::to_string_pretty(&partial).unwrap()).unwrap();
    let nothing = d.join("must-not-exist");
    let (s, bv, ms) = (
        shape.to_str().unwrap(),
        bad_version.to_str().unwrap(),
        missing.to_str().unwrap(),
    );
    for (profile, scale, expect) in [
        (bv, "0.5", "format_version 2"),
        (ms, "0.5", "missing field `messages`"),
        (s, "0", "--scale"),
        (s, "-1", "--scale"),
        (s, "nan", "--scale"),
    ] {
        for cmd in ["generate", "load"] {
            let mut args = vec![cmd, "--profile", profile, "--scale", scale];
            let report = nothing.join("report.json");
            let r = report.to_str().unwrap();
            if cmd == "generate" {
                args.extend(["--out", nothing.to_str().unwrap(), "--report", r]);
            } else {
                args.extend(["--database-url", &fitted.url, "--report", r]);
            }
            let o = chatsynth(&args);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
            let err = stderr(&o);
            assert!(err.contains(expect), "{args:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "one clear error: {err}");
            assert!(!nothing.exists(), "{args:?} wrote something");
        }
    }
    // --scale needs --profile.
    let o = chatsynth(&["generate", "--scale", "0.5", "--discard"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--profile"), "{}", stderr(&o));
    // The fitted database was left as loaded by the refused loads.
    let (code, _) = against(&fitted, &shape, &d.join("after-against.json"));
    assert_eq!(code, 0);
    let _ = std::fs::remove_dir_all(&d);
}

const FIXTURE_DIRECT: &str = include_str!("fixtures/production_direct.sql");

/// A second production shape (tests/fixtures/production_direct.sql): 80%
/// direct rooms, heavy top rooms, long texts, weekday 14:00 activity, and
/// image messages with one to three attachments where documents and videos
/// have one. The fit must give each message type its own attachment count,
/// or the attachment type mix follows the message type mix (images 20%
/// instead of 33%) and the gate says NO-GO on `attachments.types.IMAGE`.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_production_shape_fits_including_attachments_per_type() {
    let prod = TestDb::new("fit_direct_prod").await;
    let c = prod.client().await;
    apply_schema(&c, "public").await;
    c.batch_execute("SET fixture.rooms = '1200'; SET fixture.seed = '0.4';")
        .await
        .unwrap();
    c.batch_execute(FIXTURE_DIRECT).await.unwrap();
    let d = dir(&prod);
    let shape = d.join("shape.json");
    profile(&prod, &shape);
    let p: Value = serde_json::from_str(&std::fs::read_to_string(&shape).unwrap()).unwrap();
    // The fixture's attachment type mix differs from its message type mix
    // (otherwise this test could not fail).
    let image_messages = p["messages"]["types"]["shares"]["IMAGE"].as_f64().unwrap();
    let file_messages = p["messages"]["types"]["shares"]["FILE"].as_f64().unwrap();
    let image_att = p["attachments"]["types"]["shares"]["IMAGE"]
        .as_f64()
        .unwrap();
    let doc_att = p["attachments"]["types"]["shares"]["DOCUMENT"]
        .as_f64()
        .unwrap();
    assert!(
        image_att / doc_att > 1.3 * image_messages / file_messages,
        "{image_att} {doc_att} {image_messages} {file_messages}"
    );

    let fitted = TestDb::new("fit_direct_gen").await;
    let o = chatsynth(&[
        "load",
        "--profile",
        shape.to_str().unwrap(),
        "--database-url",
        &fitted.url,
        "--no-progress",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let (code, v) = against(&fitted, &shape, &d.join("fitted-against.json"));
    assert_eq!(code, 0, "fitted load must pass: failed {:?}", failed(&v));
    assert_eq!(v["decision"], "GO");
}
