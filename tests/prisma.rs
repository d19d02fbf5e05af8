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
    for script in ["read-back.mjs", "read-back-changed.mjs"] {
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/prisma")
                .join(script),
            dir.join(script),
        )
        .expect("copy the read-back scripts");
    }
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
                .env("CHECKPOINT_DISABLE", "1")
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
            // Named by the schema it migrates to; written whole, then renamed.
            let schema = std::fs::read(dir.join("schema.prisma")).expect("read schema.prisma");
            let migration = dir.join(format!("migration-{}.sql", &sha256_hex(&schema)[..16]));
            let partial = dir.join(format!("migration-{}.partial", std::process::id()));
            std::fs::write(&partial, sql).expect("write the migration SQL");
            std::fs::rename(&partial, &migration).expect("rename the migration SQL");
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
        .map(|r| {
            (0..r.len())
                .map(|i| r.get::<_, Option<String>>(i))
                .collect()
        })
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
    let id = msg["id"]
        .as_str()
        .expect("a message with all three children");
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
    assert_eq!(
        json_strings(&msg["reads"], &["id", "userId", "readAt"]),
        reads
    );
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
        .query_one("SELECT metadata::text FROM messages WHERE id = $1", &[&id])
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
        let sql: Vec<(String, i64)> = pairs(
            c,
            &format!("SELECT \"{column}\"::text, count(*) FROM \"{table}\" GROUP BY 1 ORDER BY 1"),
        )
        .await;
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
    assert_eq!(
        (of("users"), of("conversations"), of("messages")),
        (200, 300, 10_000)
    );
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

// ---------------------------------------------------------------------------
// The team's whole database: the application's own tables (posts,
// interactions, connections, coolness ratings, pushes, post views) keep their
// catalog and their rows through a load or refresh.

/// Columns, defaults, indexes and constraints (with their ON UPDATE / ON
/// DELETE rules) of every table of `public` that chatsynth does not replace.
async fn app_catalog(c: &tokio_postgres::Client) -> Vec<String> {
    let chat: Vec<String> = TABLES
        .iter()
        .map(|t| t.to_string())
        .chain(["chatsynth_runs".to_string()])
        .collect();
    let rows = c
        .query(
            "WITH app AS (
               SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> ALL($1))
             SELECT format('%s column %s %s notnull=%s default=%s', app.relname, a.attname,
                           format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
             FROM app JOIN pg_attribute a ON a.attrelid = app.oid AND a.attnum > 0 AND NOT a.attisdropped
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
             UNION ALL
             SELECT format('%s index %s', app.relname, pg_get_indexdef(x.indexrelid))
             FROM app JOIN pg_index x ON x.indrelid = app.oid
             UNION ALL
             SELECT format('%s constraint %s %s %s references=%s update=%s delete=%s validated=%s deferrable=%s',
                           app.relname, con.conname, con.contype, pg_get_constraintdef(con.oid),
                           con.confrelid::regclass, con.confupdtype, con.confdeltype, con.convalidated, con.condeferrable)
             FROM app JOIN pg_constraint con ON con.conrelid = app.oid
             ORDER BY 1",
            &[&chat],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

const APP_TABLES: [&str; 6] = [
    "posts",
    "interactions",
    "connections",
    "coolness_ratings",
    "pushes",
    "post_views",
];

/// md5 of every row of each application table.
async fn app_rows(c: &tokio_postgres::Client) -> Vec<(String, i64, String)> {
    let mut out = Vec::new();
    for t in APP_TABLES {
        let r = c
            .query_one(
                &format!(
                    "SELECT count(*), coalesce(md5(string_agg(x::text, '|' ORDER BY x.id)), 'empty') FROM \"{t}\" x"
                ),
                &[],
            )
            .await
            .unwrap();
        out.push((t.to_string(), r.get(0), r.get(1)));
    }
    out
}

/// Rows in all six application tables, written by synthetic users of the
/// loaded dataset (post views also by a user id that exists nowhere: that
/// column has no foreign key).
async fn fill_app_tables(c: &tokio_postgres::Client) {
    c.batch_execute(
        "CREATE TEMP TABLE u AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM users;
         INSERT INTO posts (id, content, \"authorId\", \"updatedAt\")
           SELECT 'post' || n, 'hello ' || n, id, now() FROM u WHERE n <= 20;
         INSERT INTO interactions (id, type, \"userId\", \"postId\")
           SELECT 'int' || u.n || '_' || p.id, 'LIKE', u.id, p.id FROM u JOIN posts p ON true WHERE u.n BETWEEN 21 AND 25;
         INSERT INTO connections (id, status, \"requesterId\", \"receiverId\", \"updatedAt\")
           SELECT 'con' || a.n, 'ACCEPTED', a.id, b.id, now() FROM u a JOIN u b ON b.n = a.n + 1 WHERE a.n <= 30;
         INSERT INTO coolness_ratings (id, rating, \"userId\", \"postId\")
           SELECT 'cool' || u.n || '_' || p.id, 1 + u.n % 5, u.id, p.id FROM u JOIN posts p ON true WHERE u.n BETWEEN 40 AND 42;
         INSERT INTO pushes (id, message, \"pusherId\", \"receiverId\", \"postId\")
           SELECT 'push' || p.id, 'look', p.\"authorId\", (SELECT id FROM u WHERE n = 50), p.id FROM posts p;
         INSERT INTO post_views (id, \"userId\", \"postId\")
           SELECT 'view' || p.id, 'nobody-' || p.id, p.id FROM posts p;
         DROP TABLE u;",
    )
    .await
    .unwrap();
    for t in APP_TABLES {
        assert!(
            count(c, &format!("SELECT count(*) FROM \"{t}\"")).await > 0,
            "{t}"
        );
    }
}

fn chatsynth_refresh(url: &str, extra: &[&str]) -> Output {
    let report = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "prisma-refresh-{}-{}.json",
        std::process::id(),
        url.rsplit('/').next().unwrap()
    ));
    let report_s = report.to_string_lossy().into_owned();
    let mut args = vec![
        "refresh",
        "--band",
        "tiny",
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

async fn no_stage_left(c: &tokio_postgres::Client) {
    assert_eq!(
        count(
            c,
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs\\_stage\\_%'"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn empty_app_tables_keep_their_catalog_through_load_and_refresh() {
    let (db, p) = migrated("prisma_app_empty").await;
    let c = db.client().await;
    let before = app_catalog(&c).await;
    assert!(
        before
            .iter()
            .filter(|l| l.contains(" FOREIGN KEY "))
            .count()
            >= 11,
        "{before:#?}"
    );
    assert_ok(&chatsynth_load(&db.url, "tiny", &[]));
    assert_eq!(app_catalog(&c).await, before);
    assert_ok(&chatsynth_refresh(&db.url, &["--seed", "3"]));
    assert_ok(&chatsynth_load(
        &db.url,
        "tiny",
        &["--truncate", "--seed", "4"],
    ));
    assert_eq!(app_catalog(&c).await, before);
    for (_, n, _) in app_rows(&c).await {
        assert_eq!(n, 0);
    }
    // The re-created keys point at the new users: a post by a new user is
    // accepted, one by an unknown user refused, and deleting a user cascades.
    c.batch_execute(
        "INSERT INTO posts (id, content, \"authorId\", \"updatedAt\") SELECT 'p1', 'x', min(id), now() FROM users",
    )
    .await
    .unwrap();
    let e = c
        .batch_execute("INSERT INTO posts (id, content, \"authorId\", \"updatedAt\") VALUES ('p2', 'x', 'nobody', now())")
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
    );
    c.batch_execute(
        "DELETE FROM users WHERE id = (SELECT \"authorId\" FROM posts WHERE id = 'p1')",
    )
    .await
    .unwrap();
    assert_eq!(count(&c, "SELECT count(*) FROM posts").await, 0);
    // Prisma Client reads the refreshed dataset as it read the first one.
    check_read_back(&c, &read_back(p, &db.url)).await;
    no_stage_left(&c).await;
}

#[tokio::test]
async fn app_rows_survive_while_their_users_stay() {
    let (db, p) = migrated("prisma_app_rows").await;
    let c = db.client().await;
    assert_ok(&chatsynth_load(&db.url, "tiny", &[]));
    fill_app_tables(&c).await;
    let (catalog, rows) = (app_catalog(&c).await, app_rows(&c).await);
    // Same seed and user count, other conversations and messages: the user
    // ids are the same (a pure function of seed and index), so every row of
    // the application still finds its user and the swap goes through.
    assert_ok(&chatsynth_refresh(
        &db.url,
        &["--conversations", "350", "--messages", "12000"],
    ));
    assert_eq!(count(&c, "SELECT count(*) FROM messages").await, 12_000);
    assert_ok(&chatsynth_load(&db.url, "tiny", &["--truncate"]));
    assert_eq!(count(&c, "SELECT count(*) FROM messages").await, 10_000);
    assert_eq!(app_catalog(&c).await, catalog);
    assert_eq!(app_rows(&c).await, rows);
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM posts p JOIN users u ON u.id = p.\"authorId\""
        )
        .await,
        20
    );
    let seen = read_back(p, &db.url);
    check_read_back(&c, &seen).await;
    assert_eq!(seen["counts"]["post"].as_i64(), Some(20));
    no_stage_left(&c).await;
}

#[tokio::test]
async fn app_rows_of_replaced_users_stop_the_swap_cleanly() {
    let (db, _) = migrated("prisma_app_stale").await;
    let c = db.client().await;
    assert_ok(&chatsynth_load(&db.url, "tiny", &[]));
    fill_app_tables(&c).await;
    let (catalog, rows) = (app_catalog(&c).await, app_rows(&c).await);
    let chat = checksums(&c, "public").await;
    // Another seed gives other user ids: the posts' authors would vanish.
    for o in [
        chatsynth_load(&db.url, "tiny", &["--truncate", "--seed", "9"]),
        chatsynth_refresh(&db.url, &["--seed", "9"]),
    ] {
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let err = stderr(&o);
        for needle in [
            "the live data was left as it was",
            "20 rows of posts reference users rows the new dataset does not have",
            "\"posts_authorId_fkey\"",
            "connections_requesterId_fkey",
            "pushes_receiverId_fkey",
        ] {
            assert!(err.contains(needle), "{needle:?} missing from: {err}");
        }
        // Post views have no key into users: not listed.
        assert!(!err.contains("post_views"), "{err}");
        assert_eq!(checksums(&c, "public").await, chat);
        assert_eq!(app_rows(&c).await, rows);
        assert_eq!(app_catalog(&c).await, catalog);
        no_stage_left(&c).await;
    }
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM chatsynth_runs WHERE status = 'FAILED'"
        )
        .await,
        2
    );
    // Once the application's rows are gone, the same load goes through.
    c.batch_execute(
        "DELETE FROM connections; DELETE FROM interactions; DELETE FROM coolness_ratings; DELETE FROM pushes; DELETE FROM posts",
    )
    .await
    .unwrap();
    assert_ok(&chatsynth_load(
        &db.url,
        "tiny",
        &["--truncate", "--seed", "9"],
    ));
    assert_eq!(app_catalog(&c).await, catalog);
}

// ---------------------------------------------------------------------------
// `chatsynth schema check` on the team's schema, unchanged and changed.

fn schema_check(url: &str, extra: &[&str]) -> Output {
    let mut args = vec!["schema", "check", "--database-url", url];
    args.extend_from_slice(extra);
    chatsynth(&args)
}

#[tokio::test]
async fn schema_check_passes_the_migrated_schema() {
    let (db, _) = migrated("prisma_check_ok").await;
    let o = schema_check(&db.url, &[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{}", stderr(&o));
    assert!(out.contains("no problems"), "{out}");
    // Every column of the seven tables is listed with how it is filled.
    let c = db.client().await;
    let columns = count(
        &c,
        "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ANY(ARRAY['users','conversations','conversation_users','messages','attachments','message_reads','message_receipts'])",
    )
    .await;
    assert_eq!(
        out.lines()
            .filter(|l| l.ends_with("built-in generator"))
            .count() as i64,
        columns,
        "{out}"
    );
    for t in APP_TABLES {
        assert!(out.contains(&format!("  {t} ")), "{t} missing from: {out}");
    }
    assert!(
        out.contains("posts                    foreign keys into users (authorId, NOT NULL)"),
        "{out}"
    );
    // A config file is read and validated; a bad one is an error (exit 2).
    let bad = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bad-config-{}.toml", std::process::id()));
    std::fs::write(&bad, "[counts]\nusers = \"many\"\n").unwrap();
    let o = schema_check(&db.url, &["--config", bad.to_str().unwrap()]);
    let _ = std::fs::remove_file(&bad);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad-config"), "{}", stderr(&o));
    // No server: exit 2, not 1 (1 means problems found).
    let o = schema_check("postgres://postgres@127.0.0.1:1/nothing", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // An empty database: load creates the tables.
    let empty = TestDb::new("check_empty").await;
    let o = schema_check(&empty.url, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("creates them from sql/schema.sql"));
}

/// The three changes of issue 11, by hand: a tenant column, a reactions table,
/// a varchar(64) and a decimal(10,2) column.
const CHANGES: &str = r#"
ALTER TABLE users ADD COLUMN "tenantId" TEXT NOT NULL;
ALTER TABLE conversations ADD COLUMN "tenantId" TEXT NOT NULL;
ALTER TABLE messages ADD COLUMN "tenantId" TEXT NOT NULL;
CREATE TABLE message_reactions (
    "id" TEXT NOT NULL,
    "emoji" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "messageId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    CONSTRAINT "message_reactions_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "message_reactions_messageId_userId_emoji_key" ON message_reactions ("messageId", "userId", "emoji");
ALTER TABLE message_reactions ADD CONSTRAINT "message_reactions_messageId_fkey" FOREIGN KEY ("messageId") REFERENCES messages("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE message_reactions ADD CONSTRAINT "message_reactions_userId_fkey" FOREIGN KEY ("userId") REFERENCES users("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE messages ADD COLUMN "clientVersion" VARCHAR(64) NOT NULL;
ALTER TABLE attachments ADD COLUMN "price" DECIMAL(10,2) NOT NULL;
"#;

#[tokio::test]
async fn schema_check_lists_every_problem_of_the_changed_schema() {
    let (db, _) = migrated("prisma_check_changed").await;
    let c = db.client().await;
    c.batch_execute(CHANGES).await.unwrap();
    let o = schema_check(&db.url, &[]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{}", stderr(&o));
    let problems = [
        "users.\"tenantId\" (text) is NOT NULL without a default, and chatsynth does not fill it",
        "conversations.\"tenantId\" (text) is NOT NULL without a default",
        "messages.\"tenantId\" (text) is NOT NULL without a default",
        "messages.\"clientVersion\" (character varying(64)) is NOT NULL without a default",
        "attachments.\"price\" (numeric(10,2)) is NOT NULL without a default",
        "table message_reactions hangs off the chat data (NOT NULL foreign key into messages)",
    ];
    for p in problems {
        assert!(out.contains(p), "{p:?} missing from:\n{out}");
    }
    assert!(
        out.contains(&format!("\n{} problems:\n", problems.len())),
        "{out}"
    );
    for fix in [
        "ALTER TABLE \"public\".\"users\" ALTER COLUMN \"tenantId\" SET DEFAULT '';",
        "ALTER TABLE \"public\".\"attachments\" ALTER COLUMN \"price\" SET DEFAULT 0;",
        "ALTER TABLE \"public\".\"messages\" ALTER COLUMN \"clientVersion\" DROP NOT NULL;",
        "[columns.\"messages.tenantId\"]",
        "a [tables.message_reactions] child-table declaration (docs/config.md, \"Child tables\")",
    ] {
        assert!(out.contains(fix), "{fix:?} missing from:\n{out}");
    }
    // The columns' lines point at their problems.
    assert!(
        out.lines().any(|l| l.trim_start().starts_with("price ")
            && l.contains("NOTHING fills it")
            && l.contains("problem #")),
        "{out}"
    );

    // load's preflight refuses the same schema and points to schema check.
    let before = checksums(&c, "public").await;
    let o = chatsynth_load(&db.url, "tiny", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("chatsynth schema check"),
        "{}",
        stderr(&o)
    );
    assert_eq!(checksums(&c, "public").await, before);

    // Applying the printed SQL (the SET DEFAULT of each column) leaves only
    // the reactions table, which a load leaves empty with its keys.
    let fixes: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("ALTER TABLE") && l.contains("SET DEFAULT"))
        .map(|l| l.split("  --").next().unwrap())
        .collect();
    assert_eq!(fixes.len(), 5, "{fixes:?}");
    c.batch_execute(&fixes.join("\n")).await.unwrap();
    let o = schema_check(&db.url, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("\n1 problem:\n#1 table message_reactions"),
        "{}",
        stdout(&o)
    );
    assert_ok(&chatsynth_load(&db.url, "tiny", &[]));
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM messages WHERE \"tenantId\" = '' AND \"clientVersion\" = ''"
        )
        .await,
        10_000
    );
    assert_eq!(count(&c, "SELECT count(*) FROM message_reactions").await, 0);
    assert_eq!(
        count(&c, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'message_reactions'::regclass AND contype = 'f' AND confrelid IN ('messages'::regclass, 'users'::regclass)").await,
        2
    );
}

/// The config for the changed schema: tenants through the foreign keys, a
/// varchar(64) and a decimal(10,2).
const RULES: &str = r#"
[columns."users.tenantId"]
kind = "choice"
type = "text"
values = ["acme", "globex", "initech"]

[columns."conversations.tenantId"]
kind = "parent"
type = "text"
parent = "users"

[columns."messages.tenantId"]
kind = "parent"
type = "text"
parent = "conversations"

[columns."messages.clientVersion"]
kind = "text"
type = "varchar(64)"
min = 1
max = 64

[columns."attachments.price"]
kind = "number"
type = "decimal(10,2)"
dist = "lognormal"
mean = 2
sd = 1
min = 0.01
max = 99999999.99
"#;

#[tokio::test]
async fn the_changed_schema_loads_with_column_rules() {
    let (db, _) = migrated("prisma_rules").await;
    let c = db.client().await;
    c.batch_execute(CHANGES).await.unwrap();
    let cfg = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("prisma-rules-{}.toml", std::process::id()));
    std::fs::write(&cfg, RULES).unwrap();
    let cfg_s = cfg.to_str().unwrap();
    // schema check --config: the rules fill their columns; only the
    // reactions table (a child-table declaration) is left.
    let o = schema_check(&db.url, &["--config", cfg_s]);
    let out = stdout(&o);
    assert_eq!(out.matches("config rule: ").count(), 5, "{out}");
    assert!(out.contains("config rule: parent"), "{out}");
    assert!(
        out.contains("\n1 problem:\n#1 table message_reactions"),
        "{out}"
    );
    assert_ok(&chatsynth_load(&db.url, "tiny", &["--config", cfg_s]));
    let _ = std::fs::remove_file(&cfg);
    assert_tiny_counts(&c).await;
    assert_eq!(
        count(
            &c,
            r#"SELECT count(*) FROM conversations c JOIN users u ON u.id = c."creatorId"
               WHERE c."tenantId" <> u."tenantId""#
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &c,
            r#"SELECT count(*) FROM messages m JOIN conversations c ON c.id = m."conversationId"
               WHERE m."tenantId" <> c."tenantId""#
        )
        .await,
        0
    );
    assert_eq!(
        count(&c, r#"SELECT count(DISTINCT "tenantId") FROM messages"#).await,
        3
    );
    assert_eq!(
        count(
            &c,
            r#"SELECT count(*) FROM attachments WHERE price IS NULL OR price < 0.01"#
        )
        .await,
        0
    );
    assert!(count(&c, "SELECT count(DISTINCT price) FROM attachments").await > 100);
}

// ---------------------------------------------------------------------------
// Issue 11: a child table declared in the config, in the team's schema
// changed the Prisma way (a model added to schema.prisma, migrated by
// Prisma's engine).

/// The team's schema with a `MessageReaction` model (unique per message,
/// user and emoji; both relations cascade, as Prisma users write them).
fn schema_with_reactions(schema: &str) -> String {
    let add_field = |s: &str, map: &str| {
        s.replacen(
            &format!("  @@map(\"{map}\")\n}}"),
            &format!("  reactions MessageReaction[]\n\n  @@map(\"{map}\")\n}}"),
            1,
        )
    };
    let mut s = add_field(&add_field(schema, "users"), "messages");
    // The other two changes of issue 11, the Prisma way: a tenant on users,
    // conversations and messages; a varchar(64) and a decimal(10,2).
    for (map, fields) in [
        ("users", "  tenantId String\n"),
        ("conversations", "  tenantId String\n"),
        (
            "messages",
            "  tenantId String\n  clientVersion String @db.VarChar(64)\n",
        ),
        ("attachments", "  price Decimal @db.Decimal(10, 2)\n"),
    ] {
        let at = format!("  @@map(\"{map}\")\n}}");
        assert!(s.contains(&at), "schema.prisma changed shape ({map})");
        s = s.replacen(&at, &format!("{fields}\n{at}"), 1);
    }
    assert_eq!(
        s.matches("reactions MessageReaction[]").count(),
        2,
        "schema.prisma changed shape"
    );
    s.push_str(
        r#"
model MessageReaction {
  id        String   @id @default(cuid())
  emoji     String   @db.VarChar(16)
  tenantId  String
  createdAt DateTime @default(now())
  messageId String
  message   Message  @relation(fields: [messageId], references: [id], onDelete: Cascade)
  userId    String
  user      User     @relation(fields: [userId], references: [id], onDelete: Cascade)

  @@unique([messageId, userId, emoji])
  @@index([userId])
  @@map("message_reactions")
}
"#,
    );
    s
}

/// The migration SQL Prisma's engine computes for `schema` (a changed copy
/// of the team's schema), from an empty database.
async fn migration_for(p: &Prisma, name: &str, schema: &str) -> PathBuf {
    let file = p.dir.join(format!("{name}-{}.prisma", std::process::id()));
    std::fs::write(&file, schema).expect("write the changed schema");
    let scratch = TestDb::new("prisma_diff_changed").await;
    let (d, url, f) = (p.dir.clone(), scratch.url.clone(), file.clone());
    let out = tokio::task::spawn_blocking(move || {
        run(
            Command::new("node")
                .args([
                    "--experimental-wasm-modules",
                    "--no-warnings",
                    "migrate.mjs",
                ])
                .arg(&f)
                .arg(&url)
                .current_dir(&d),
            "migrate.mjs (Prisma's schema engine) on the changed schema",
        )
    })
    .await
    .unwrap();
    let sql = String::from_utf8(out.stdout).expect("migration SQL is UTF-8");
    assert!(
        sql.contains("CREATE TABLE \"message_reactions\""),
        "migrate.mjs printed no reactions table:\n{sql}"
    );
    let path = p.dir.join(format!("{name}-{}.sql", std::process::id()));
    std::fs::write(&path, sql).expect("write the migration SQL");
    let _ = std::fs::remove_file(&file);
    path
}

/// A Prisma Client generated from `schema` (a changed copy of the team's
/// schema) into its own folder, so the team's client stays as it is; returns
/// the folder (the generator's `output`).
fn client_for(p: &Prisma, name: &str, schema: &str) -> PathBuf {
    let tag = format!("{name}-{}", std::process::id());
    let out = p.dir.join("generated").join(&tag);
    let generator = "provider = \"prisma-client-js\"";
    assert!(
        schema.contains(generator),
        "schema.prisma changed shape (generator)"
    );
    let schema = schema.replacen(
        generator,
        &format!("{generator}\n  output = \"./generated/{tag}\""),
        1,
    );
    let file = p.dir.join(format!("{tag}-client.prisma"));
    std::fs::write(&file, schema).expect("write the changed schema");
    run(
        Command::new("node_modules/.bin/prisma")
            .arg("generate")
            .arg("--schema")
            .arg(&file)
            .env("PRISMA_SCHEMA_ENGINE_BINARY", "/bin/true")
            .env("PRISMA_ENGINES_CHECKSUM_IGNORE_MISSING", "1")
            .env("PRISMA_HIDE_UPDATE_MESSAGE", "1")
            .env("CHECKPOINT_DISABLE", "1")
            .current_dir(&p.dir),
        "prisma generate of the changed schema",
    );
    let _ = std::fs::remove_file(&file);
    assert!(
        out.join("index.js").is_file(),
        "prisma generate wrote no client into {}",
        out.display()
    );
    out
}

const REACTIONS_CONFIG: &str = r#"
[columns."message_reactions.tenantId"]
kind = "parent"
type = "text"
parent = "messages"

[tables.message_reactions]
parent = "messages"
rate = 0.2
dist = "poisson"
max = 5
actor = "member_not_sender"
updated_column = ""
key = { column = "emoji", values = ["👍", "❤️", "😂", "😮", "😢", "🎉"], weights = [40, 25, 15, 8, 7, 5] }
"#;

/// Issue 11's "What it must show": the three changes made in schema.prisma
/// and migrated by Prisma's engine, the config (column rules and the
/// reactions table), a dev load with exact counts, every key holding, each
/// tenant its parent's, reactions near the configured rate.
#[tokio::test]
async fn a_declared_reactions_table_loads_into_the_prisma_migrated_schema() {
    let p = prisma().await;
    let schema = std::fs::read_to_string(p.dir.join("schema.prisma")).unwrap();
    let changed = schema_with_reactions(&schema);
    let migration = migration_for(p, "reactions", &changed).await;
    let client = {
        let (p, changed) = (p, changed.clone());
        tokio::task::spawn_blocking(move || client_for(p, "reactions", &changed))
            .await
            .expect("generate the changed schema's client")
    };
    let db = TestDb::new("prisma_reactions").await;
    psql_file(&db.url, &migration);
    let _ = std::fs::remove_file(&migration);
    let c = db.client().await;
    let config = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("reactions-{}.toml", std::process::id()));
    std::fs::write(&config, format!("{RULES}\n{REACTIONS_CONFIG}")).unwrap();
    let config = config.to_string_lossy().into_owned();

    // schema check with the config: the table is declared, no problem left.
    let o = schema_check(&db.url, &["--config", &config]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("message_reactions        child table declared in the config"),
        "{}",
        stdout(&o)
    );

    let report = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("reactions-report-{}.json", std::process::id()));
    let report = report.to_string_lossy().into_owned();
    assert_ok(&chatsynth(&[
        "load",
        "--band",
        "dev",
        "--database-url",
        &db.url,
        "--config",
        &config,
        "--report",
        &report,
        "--no-progress",
    ]));
    // Exact counts of the driving tables.
    for (t, n) in [
        ("users", 5_000),
        ("conversations", 8_000),
        ("messages", 500_000),
    ] {
        assert_eq!(
            count(&c, &format!("SELECT count(*) FROM {t}")).await,
            n,
            "{t}"
        );
    }
    // Prisma's keys and indexes of the new table, rebuilt and valid.
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'message_reactions'::regclass \
             AND contype IN ('p', 'f') AND convalidated"
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM pg_index WHERE indrelid = 'message_reactions'::regclass AND indisvalid \
             AND indexrelid::regclass::text IN ('message_reactions_pkey', \
             '\"message_reactions_messageId_userId_emoji_key\"', '\"message_reactions_userId_idx\"')"
        )
        .await,
        3
    );
    // No reaction by its message's sender or by someone outside the room.
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM message_reactions r JOIN messages m ON m.id = r.\"messageId\" \
             LEFT JOIN conversation_users cu ON cu.\"conversationId\" = m.\"conversationId\" AND cu.\"userId\" = r.\"userId\" \
             WHERE r.\"userId\" = m.\"senderId\" OR cu.id IS NULL OR r.\"createdAt\" <= m.\"createdAt\""
        )
        .await,
        0
    );
    // Each row's tenant is its parent's; the varchar and decimal are filled.
    for sql in [
        r#"SELECT count(*) FROM conversations c JOIN users u ON u.id = c."creatorId" WHERE c."tenantId" <> u."tenantId""#,
        r#"SELECT count(*) FROM messages m JOIN conversations c ON c.id = m."conversationId" WHERE m."tenantId" <> c."tenantId""#,
        r#"SELECT count(*) FROM messages WHERE char_length("clientVersion") NOT BETWEEN 1 AND 64"#,
        r#"SELECT count(*) FROM attachments WHERE price IS NULL OR price < 0.01"#,
    ] {
        assert_eq!(count(&c, sql).await, 0, "{sql}");
    }
    assert_eq!(
        count(&c, r#"SELECT count(DISTINCT "tenantId") FROM users"#).await,
        3
    );
    // Every foreign key and unique constraint of the schema holds: all valid
    // after the load (they were rebuilt and validated against the data).
    assert_eq!(
        count(&c, "SELECT count(*) FROM pg_constraint WHERE contype IN ('f', 'u', 'p') AND NOT convalidated").await,
        0
    );
    assert_eq!(
        count(&c, "SELECT count(*) FROM pg_index WHERE NOT indisvalid").await,
        0
    );
    // Near the configured rate: 0.2 per message (a direct message offers
    // 1 member x 6 emoji, above the cap of 5, so the cap hardly bites);
    // 500,000 messages give a standard error of 0.0006.
    let reactions = count(&c, "SELECT count(*) FROM message_reactions").await;
    let rate = reactions as f64 / 500_000.0;
    assert!((rate - 0.2).abs() < 0.005, "{rate}");

    // validate: GO, with the table's checks.
    let out = format!("{report}.validate.json");
    let o = chatsynth(&[
        "validate",
        "--database-url",
        &db.url,
        "--report",
        &report,
        "--out",
        &out,
    ]);
    let _ = (std::fs::remove_file(&out), std::fs::remove_file(&report));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    for what in [
        "duplicate unique keys",
        "rows without their parent",
        "rows per parent",
    ] {
        let line = stdout(&o)
            .lines()
            .find(|l| l.starts_with(&format!("message_reactions: {what}")))
            .map(String::from)
            .unwrap_or_else(|| panic!("{what} in {}", stdout(&o)));
        assert!(line.ends_with("pass"), "{line}");
    }

    // A Prisma Client generated from the changed schema reads the rows back:
    // the reactions with their message and reactor, the tenants, the
    // varchar(64) and the decimal(10,2) (Prisma's Decimal), each compared
    // with plain SQL.
    let seen = {
        let out = run(
            Command::new("node")
                .arg("read-back-changed.mjs")
                .arg(&db.url)
                .arg(&client)
                .current_dir(&p.dir),
            "Prisma Client read-back of the changed schema",
        );
        let _ = std::fs::remove_dir_all(&client);
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "read-back printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    };
    for (model, table) in [
        ("user", "users"),
        ("conversation", "conversations"),
        ("message", "messages"),
        ("attachment", "attachments"),
        ("messageReaction", "message_reactions"),
    ] {
        assert_eq!(
            seen["counts"][model].as_i64(),
            Some(count(&c, &format!("SELECT count(*) FROM {table}")).await),
            "Prisma's {model}.count() against SQL"
        );
    }
    let sql = strings(
        &c,
        &format!(
            "SELECT r.id, r.emoji, r.\"tenantId\", to_char(r.\"createdAt\", {ISO}), r.\"messageId\", m.\"tenantId\", r.\"userId\", u.email
             FROM message_reactions r JOIN messages m ON m.id = r.\"messageId\" JOIN users u ON u.id = r.\"userId\"
             WHERE $1 <> '' ORDER BY r.id LIMIT 20"
        ),
        "x",
    )
    .await;
    assert_eq!(sql.len(), 20);
    assert_eq!(
        json_strings(
            &seen["reactions"],
            &[
                "id",
                "emoji",
                "tenantId",
                "createdAt",
                "messageId",
                "messageTenantId",
                "userId",
                "userEmail"
            ]
        ),
        sql
    );
    for r in &sql {
        assert_eq!(r[2], r[5], "a reaction's tenant is its message's");
    }
    let sql = strings(
        &c,
        "SELECT m.id, m.\"tenantId\", m.\"clientVersion\",
                (SELECT count(*) FROM message_reactions r WHERE r.\"messageId\" = m.id)::text
         FROM messages m WHERE $1 <> '' ORDER BY m.id LIMIT 20",
        "x",
    )
    .await;
    assert_eq!(
        json_strings(
            &seen["messages"],
            &["id", "tenantId", "clientVersion", "reactions"]
        ),
        sql
    );
    let sql = strings(
        &c,
        "SELECT id, price::text FROM attachments WHERE $1 <> '' ORDER BY id LIMIT 20",
        "x",
    )
    .await;
    assert_eq!(json_strings(&seen["attachments"], &["id", "price"]), sql);
    assert!(
        seen["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["isDecimal"] == Value::Bool(true)),
        "the client reads decimal(10,2) as Prisma's Decimal: {}",
        seen["attachments"]
    );
    let sum: String = c
        .query_one("SELECT sum(price)::text FROM attachments", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(seen["priceSum"].as_str(), Some(sum.as_str()));
    let by_tenant: Vec<(String, i64)> = pairs(
        &c,
        "SELECT \"tenantId\", count(*) FROM message_reactions GROUP BY 1 ORDER BY 1",
    )
    .await;
    let mut prisma: Vec<(String, i64)> = seen["byTenant"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_i64().unwrap()))
        .collect();
    prisma.sort();
    assert_eq!(prisma, by_tenant);
    assert_eq!(by_tenant.len(), 3);
}
