//! chatsynth against the chat team's own schema, migrated by Prisma's own
//! schema engine and read back by a real Prisma Client.
//!
//! The team's files (`schema.prisma`, `migrate.mjs`, `package.json`) live beside
//! the clone in `../shared/prisma` (or `CHATSYNTH_PRISMA_DIR`); they are the
//! customer's, so they are copied into cargo's target tmp folder at test time
//! and never into the project. `npm install` runs there once per package.json
//! (the folder is keyed by its hash), the client is generated once per
//! schema.prisma, and migrate.mjs computes the migration SQL once per test run.
//! Every test then migrates its own fresh database with psql, loads it with
//! chatsynth, and reads it back through Prisma Client (`tests/prisma/read-back.mjs`),
//! comparing each figure with plain SQL.
//!
//! node and npm are required: a test that cannot run them fails, it never skips.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use serde_json::Value;
use tokio::sync::OnceCell;

/// What the tests share: the prepared npm folder and the migration SQL.
struct Prisma {
    /// Folder holding the customer's files, node_modules, the generated client
    /// and our read-back script.
    dir: PathBuf,
    /// What `prisma migrate` would run on an empty database.
    migration: PathBuf,
}

static PRISMA: OnceCell<Prisma> = OnceCell::const_new();

fn shared_prisma_dir() -> PathBuf {
    let dir = std::env::var_os("CHATSYNTH_PRISMA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/prisma"));
    assert!(
        dir.join("schema.prisma").is_file() && dir.join("package.json").is_file(),
        "the chat team's Prisma folder is missing: expected schema.prisma and package.json in {} \
         (it sits beside the clone as shared/prisma; set CHATSYNTH_PRISMA_DIR to point elsewhere)",
        dir.display()
    );
    dir
}

/// Runs a tool, failing the test with a clear message when it cannot start or fails.
fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "{what}: cannot run {:?} ({e}). The Prisma tests need node (>= 20.19), npm and psql; \
             on Debian: apt-get install nodejs npm postgresql-client",
            cmd.get_program()
        )
    });
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// node must be at least 20.19 (Prisma 7's floor).
fn check_node() {
    let out = run(Command::new("node").arg("--version"), "checking node");
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let nums: Vec<u32> = v
        .trim_start_matches('v')
        .split('.')
        .filter_map(|x| x.parse().ok())
        .collect();
    assert!(
        nums.len() >= 2 && (nums[0], nums[1]) >= (20, 19),
        "node {v} is too old for Prisma 7 (needs >= 20.19)"
    );
    run(Command::new("npm").arg("--version"), "checking npm");
}

/// Prepares the npm folder once per test run (cross-process safe: a file lock).
fn prepare_folder() -> PathBuf {
    check_node();
    let src = shared_prisma_dir();
    let package = std::fs::read(src.join("package.json")).expect("read package.json");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("prisma-npm-{}", &sha256_hex(&package)[..16]));
    std::fs::create_dir_all(&dir).expect("create the npm folder");
    let lock = std::fs::File::create(dir.join(".lock")).expect("create the lock file");
    lock.lock().expect("lock the npm folder");
    // Fresh copies of the customer's files (written, not copied: the sources
    // are read-only and a copy would keep that mode).
    for entry in std::fs::read_dir(&src).expect("list the Prisma folder") {
        let p = entry.expect("read the Prisma folder").path();
        if p.is_file() {
            let bytes = std::fs::read(&p).expect("read a Prisma file");
            std::fs::write(dir.join(p.file_name().unwrap()), bytes).expect("copy a Prisma file");
        }
    }
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/prisma/read-back.mjs"),
        dir.join("read-back.mjs"),
    )
    .expect("copy read-back.mjs");
    let installed = dir.join("node_modules/.chatsynth-installed");
    if !installed.exists() {
        eprintln!("prisma tests: npm install in {} (once)", dir.display());
        run(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund"])
                .current_dir(&dir),
            "npm install of the Prisma tools",
        );
        std::fs::write(&installed, b"").expect("mark the install");
    }
    let schema_hash = sha256_hex(&std::fs::read(dir.join("schema.prisma")).unwrap());
    let generated = dir.join("node_modules/.chatsynth-generated");
    if std::fs::read_to_string(&generated).ok().as_deref() != Some(schema_hash.as_str()) {
        // The native schema engine cannot be downloaded here; generation does
        // not use it, so its check is short-circuited (see the Prisma README).
        run(
            Command::new("node_modules/.bin/prisma")
                .args(["generate", "--schema", "schema.prisma"])
                .env("PRISMA_SCHEMA_ENGINE_BINARY", "/bin/true")
                .env("PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING", "1")
                .env("PRISMA_HIDE_UPDATE_MESSAGE", "1")
                .current_dir(&dir),
            "prisma generate",
        );
        std::fs::write(&generated, &schema_hash).expect("mark the generated client");
    }
    dir
}

async fn prisma() -> &'static Prisma {
    PRISMA
        .get_or_init(|| async {
            let dir = tokio::task::spawn_blocking(prepare_folder)
                .await
                .expect("prepare the Prisma folder");
            // Prisma's schema engine computes the migration from an empty
            // database; it is the same for every test, so once per run.
            let scratch = TestDb::new("prisma_diff").await;
            let (d, url) = (dir.clone(), scratch.url.clone());
            let out = tokio::task::spawn_blocking(move || {
                run(
                    Command::new("node")
                        .args(["--experimental-wasm-modules", "--no-warnings"])
                        .args(["migrate.mjs", "schema.prisma", &url])
                        .current_dir(&d),
                    "migrate.mjs (Prisma's schema engine)",
                )
            })
            .await
            .unwrap();
            let sql = String::from_utf8(out.stdout).expect("migration SQL is UTF-8");
            assert!(
                sql.contains("CREATE TABLE \"messages\""),
                "migrate.mjs printed no migration:\n{sql}"
            );
            let migration = dir.join(format!("migration-{}.sql", std::process::id()));
            std::fs::write(&migration, sql).expect("write migration.sql");
            Prisma { dir, migration }
        })
        .await
}

/// A fresh database migrated to the team's schema by Prisma's migration SQL.
async fn migrated(tag: &str) -> (TestDb, &'static Prisma) {
    let p = prisma().await;
    let db = TestDb::new(tag).await;
    psql_file(&db.url, &p.migration);
    (db, p)
}

fn psql_file(url: &str, file: &Path) {
    run(
        Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"])
            .arg(file),
        "psql applying the migration",
    );
}

fn chatsynth_load(url: &str, band: &str, extra: &[&str]) -> Output {
    let report = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "prisma-report-{}-{}.json",
        std::process::id(),
        url.rsplit('/').next().unwrap()
    ));
    let report_s = report.to_string_lossy().into_owned();
    let mut args = vec![
        "load",
        "--band",
        band,
        "--database-url",
        url,
        "--report",
        &report_s,
        "--no-progress",
    ];
    args.extend_from_slice(extra);
    let out = chatsynth(&args);
    let _ = std::fs::remove_file(&report);
    out
}

fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "chatsynth failed: {}\n{}",
        stderr(o),
        stdout(o)
    );
}

/// Runs our read-back script through the generated Prisma Client.
fn read_back(p: &Prisma, url: &str) -> Value {
    let out = run(
        Command::new("node")
            .args(["read-back.mjs", url])
            .current_dir(&p.dir),
        "Prisma Client read-back",
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "read-back printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Prisma model -> table.
const MODELS: [(&str, &str); 13] = [
    ("user", "users"),
    ("conversation", "conversations"),
    ("conversationUser", "conversation_users"),
    ("message", "messages"),
    ("messageRead", "message_reads"),
    ("messageReceipt", "message_receipts"),
    ("attachment", "attachments"),
    ("post", "posts"),
    ("interaction", "interactions"),
    ("connection", "connections"),
    ("coolnessRating", "coolness_ratings"),
    ("push", "pushes"),
    ("postView", "post_views"),
];

const ISO: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'"#;

async fn strings(c: &tokio_postgres::Client, sql: &str, id: &str) -> Vec<Vec<Option<String>>> {
    c.query(sql, &[&id])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| (0..r.len()).map(|i| r.get::<_, Option<String>>(i)).collect())
        .collect()
}

fn json_strings(v: &Value, keys: &[&str]) -> Vec<Vec<Option<String>>> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|o| {
            keys.iter()
                .map(|k| match &o[*k] {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                })
                .collect()
        })
        .collect()
}

/// Compares everything the Prisma Client saw with plain SQL. Returns the counts.
async fn check_read_back(c: &tokio_postgres::Client, seen: &Value) -> Vec<(String, i64)> {
    let mut counts = Vec::new();
    for (model, table) in MODELS {
        let sql = count(c, &format!("SELECT count(*) FROM \"{table}\"")).await;
        assert_eq!(
            seen["counts"][model].as_i64(),
            Some(sql),
            "Prisma's {model}.count() against SQL count(*) of {table}"
        );
        counts.push((table.to_string(), sql));
    }

    // The busiest non-direct room: its figures, members and last messages.
    let room = &seen["conversation"];
    let id = room["id"].as_str().expect("a room was read");
    let max = count(
        c,
        "SELECT max(n) FROM (SELECT count(*) AS n FROM messages m JOIN conversations r ON r.id = m.\"conversationId\" \
         WHERE r.type <> 'DIRECT_MESSAGE' GROUP BY m.\"conversationId\") x",
    )
    .await;
    let head = strings(
        c,
        &format!(
            "SELECT r.type::text, u.email, to_char(r.\"createdAt\", {ISO}),
                    (SELECT count(*) FROM messages m WHERE m.\"conversationId\" = r.id)::text,
                    (SELECT count(*) FROM conversation_users cu WHERE cu.\"conversationId\" = r.id)::text
             FROM conversations r JOIN users u ON u.id = r.\"creatorId\" WHERE r.id = $1"
        ),
        id,
    )
    .await;
    assert_eq!(
        head,
        vec![vec![
            room["type"].as_str().map(String::from),
            room["creatorEmail"].as_str().map(String::from),
            room["createdAt"].as_str().map(String::from),
            Some(room["messageCount"].to_string()),
            Some(room["memberCount"].to_string()),
        ]]
    );
    assert_eq!(room["messageCount"].as_i64(), Some(max), "the busiest room");
    assert!(room["memberCount"].as_i64().unwrap() >= 3, "{room}");
    let members = strings(
        c,
        "SELECT cu.\"userId\", cu.role::text, u.email FROM conversation_users cu JOIN users u ON u.id = cu.\"userId\" \
         WHERE cu.\"conversationId\" = $1 ORDER BY cu.id",
        id,
    )
    .await;
    assert_eq!(
        json_strings(&room["members"], &["userId", "role", "email"]),
        members
    );
    let last = strings(
        c,
        &format!(
            "SELECT m.id, to_char(m.\"createdAt\", {ISO}), m.type::text, m.status::text, u.email
             FROM messages m JOIN users u ON u.id = m.\"senderId\"
             WHERE m.\"conversationId\" = $1 ORDER BY m.\"createdAt\" DESC LIMIT 5"
        ),
        id,
    )
    .await;
    assert_eq!(last.len(), 5);
    assert_eq!(
        json_strings(
            &room["lastMessages"],
            &["id", "createdAt", "type", "status", "senderEmail"]
        ),
        last
    );

    // A message with attachments, reads and receipts.
    let msg = &seen["message"];
    let id = msg["id"].as_str().expect("a message with all three children");
    let atts = strings(
        c,
        "SELECT id, type::text, size::text, \"mimeType\" FROM attachments WHERE \"messageId\" = $1 ORDER BY id",
        id,
    )
    .await;
    assert!(!atts.is_empty());
    assert_eq!(
        json_strings(&msg["attachments"], &["id", "type", "size", "mimeType"]),
        atts
    );
    let reads = strings(
        c,
        &format!(
            "SELECT id, \"userId\", to_char(\"readAt\", {ISO}) FROM message_reads WHERE \"messageId\" = $1 ORDER BY id"
        ),
        id,
    )
    .await;
    assert!(!reads.is_empty());
    assert_eq!(json_strings(&msg["reads"], &["id", "userId", "readAt"]), reads);
    let receipts = strings(
        c,
        &format!(
            "SELECT id, \"userId\", state::text, to_char(\"timestamp\", {ISO}) FROM message_receipts WHERE \"messageId\" = $1 ORDER BY id"
        ),
        id,
    )
    .await;
    assert!(!receipts.is_empty());
    assert_eq!(
        json_strings(&msg["receipts"], &["id", "userId", "state", "timestamp"]),
        receipts
    );
    let meta: Option<String> = c
        .query_one(
            "SELECT metadata::text FROM messages WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        meta.map(|m| serde_json::from_str::<Value>(&m).unwrap())
            .unwrap_or(Value::Null),
        msg["metadata"]
    );

    // Enum columns as the client decodes them.
    for (key, groups) in seen["enums"].as_object().expect("enums") {
        let (table, column) = key.split_once('.').unwrap();
        let sql: Vec<(String, i64)> = c
            .query(
                &format!("SELECT \"{column}\"::text, count(*) FROM \"{table}\" GROUP BY 1 ORDER BY 1"),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let mut prisma: Vec<(String, i64)> = groups
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
            .collect();
        prisma.sort();
        assert_eq!(prisma, sql, "{key} grouped by Prisma Client and by SQL");
        assert!(!sql.is_empty(), "{key} has rows");
    }

    // JSON metadata decoded by the client.
    let m = &seen["metadata"];
    let id = m["id"].as_str().expect("a message with metadata");
    let text: String = c
        .query_one("SELECT metadata::text FROM messages WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0);
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), m["metadata"]);
    counts
}

#[tokio::test]
async fn prisma_client_reads_a_tiny_load() {
    let (db, p) = migrated("prisma_tiny").await;
    let c = db.client().await;
    assert_ok(&chatsynth_load(&db.url, "tiny", &[]));
    let seen = read_back(p, &db.url);
    let counts = check_read_back(&c, &seen).await;
    let of = |t: &str| counts.iter().find(|x| x.0 == t).unwrap().1;
    // The band's exact figures (README, "The data").
    assert_eq!((of("users"), of("conversations"), of("messages")), (200, 300, 10_000));
    for t in TABLES {
        assert!(of(t) > 0, "{t} is empty");
    }
}

#[tokio::test]
async fn prisma_client_reads_a_dev_load() {
    let (db, p) = migrated("prisma_dev").await;
    let c = db.client().await;
    assert_ok(&chatsynth_load(&db.url, "dev", &[]));
    let seen = read_back(p, &db.url);
    let counts = check_read_back(&c, &seen).await;
    let of = |t: &str| counts.iter().find(|x| x.0 == t).unwrap().1;
    assert_eq!(
        (of("users"), of("conversations"), of("messages")),
        (5_000, 8_000, 500_000)
    );
}
