//! Shared helpers for integration tests: every test gets its own fresh database
//! on the real PostgreSQL server (`CHATSYNTH_TEST_URL`, default
//! postgres://postgres@127.0.0.1:5432/postgres), dropped when the guard drops.
//! A missing server fails the test; nothing is skipped.
#![allow(dead_code)]

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::{Client, NoTls};

pub fn admin_url() -> String {
    std::env::var("CHATSYNTH_TEST_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// URL of database `db` on the test server.
pub fn db_url(db: &str) -> String {
    chatsynth::db::url_with_dbname(&admin_url(), db)
        .unwrap_or_else(|e| panic!("CHATSYNTH_TEST_URL: {e}"))
}

pub async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("the test PostgreSQL at {url} must be running: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh, empty database for one test; dropped (with FORCE) on drop.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn new(tag: &str) -> TestDb {
        let name = format!(
            "chatsynth_t_{}_{}_{}",
            tag,
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let admin = connect(&admin_url()).await;
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
        TestDb {
            url: db_url(&name),
            name,
        }
    }

    pub async fn client(&self) -> Client {
        connect(&self.url).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::env::var_os("CHATSYNTH_KEEP_TEST_DBS").is_some() {
            return;
        }
        // Drop synchronously through psql-free path: a fresh runtime-less connection.
        let name = self.name.clone();
        let admin = admin_url();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok((c, conn)) = tokio_postgres::connect(&admin, NoTls).await {
                    tokio::spawn(async move {
                        let _ = conn.await;
                    });
                    let _ = c
                        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// `chatsynth load --band tiny --database-url url --no-progress` with `extra`
/// flags (a report path, a schema, a metrics file...).
pub fn run_tiny_load(url: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "load",
        "--band",
        "tiny",
        "--database-url",
        url,
        "--no-progress",
    ];
    args.extend_from_slice(extra);
    chatsynth(&args)
}

/// Runs the built `chatsynth` binary with `args`.
pub fn chatsynth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chatsynth"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run chatsynth")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Applies `sql/schema.sql` in schema `schema` of the database (created if missing).
pub async fn apply_schema(client: &Client, schema: &str) {
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\"; SET search_path TO \"{schema}\";"
        ))
        .await
        .unwrap();
    client
        .batch_execute(include_str!("../../sql/schema.sql"))
        .await
        .unwrap();
}

/// The seven chat tables, written out independently of the crate's own list.
pub const TABLES: [&str; 7] = [
    "users",
    "conversations",
    "conversation_users",
    "messages",
    "attachments",
    "message_reads",
    "message_receipts",
];

/// A single bigint from `sql`; the query is named in the panic.
pub async fn count(c: &Client, sql: &str) -> i64 {
    c.query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

/// md5 of every row of each of the seven tables of `schema`, in id order.
pub async fn checksums(c: &Client, schema: &str) -> Vec<String> {
    let mut out = Vec::new();
    for t in TABLES {
        let row = c
            .query_one(
                &format!(
                    "SELECT coalesce(md5(string_agg(x::text, '|' ORDER BY x.id)), 'empty') FROM \"{schema}\".\"{t}\" x"
                ),
                &[],
            )
            .await
            .unwrap();
        out.push(row.get::<_, String>(0));
    }
    out
}

/// The first two columns of every row `sql` returns, as pairs; the query is
/// named in the panic.
pub async fn pairs<A, B>(c: &Client, sql: &str) -> Vec<(A, B)>
where
    A: tokio_postgres::types::FromSqlOwned,
    B: tokio_postgres::types::FromSqlOwned,
{
    c.query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// md5 of every row of `table`, ordered by the row's text (for tables
/// without an id column, such as declared child tables keyed otherwise).
pub async fn table_checksum(c: &Client, table: &str) -> String {
    c.query_one(
        &format!("SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t"),
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

/// The row counts of users, conversations and messages equal the tiny
/// band's preset (a load of `--band tiny` without count overrides).
pub async fn assert_tiny_counts(c: &Client) {
    let preset = chatsynth::config::Band::Tiny.preset();
    for (table, want) in [
        ("users", preset.counts.users),
        ("conversations", preset.counts.conversations),
        ("messages", preset.counts.messages),
    ] {
        assert_eq!(
            count(c, &format!("SELECT count(*) FROM {table}")).await,
            want as i64,
            "{table}"
        );
    }
}

/// Writes `text` into a file of this test binary's temporary folder named
/// after `tag` and the process; returns its path.
pub fn write_config(tag: &str, text: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{tag}-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// Three declared child tables (off messages, conversations and users) and
/// the config that declares them (tests/children.rs, tests/resume.rs).
pub const CHILD_TABLES_SQL: &str = r#"
CREATE TABLE message_reactions (
    id TEXT PRIMARY KEY,
    "messageId" TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    "userId" TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    emoji VARCHAR(16) NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    note TEXT,
    CONSTRAINT message_reactions_unique UNIQUE ("messageId", "userId", emoji)
);
CREATE INDEX message_reactions_user_idx ON message_reactions ("userId");
CREATE TABLE conversation_pins (
    id TEXT PRIMARY KEY,
    "conversationId" TEXT NOT NULL REFERENCES conversations(id),
    "userId" TEXT NOT NULL REFERENCES users(id),
    "createdAt" TIMESTAMP(3) NOT NULL,
    UNIQUE ("conversationId", "userId")
);
CREATE TABLE user_badges (
    id TEXT PRIMARY KEY,
    "userId" TEXT NOT NULL REFERENCES users(id),
    badge TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    UNIQUE ("userId", badge)
);
"#;

pub const CHILD_TABLES_CONFIG: &str = r#"
[tables.message_reactions]
parent = "messages"
rate = 0.4
dist = "poisson"
max = 5
actor = "member_not_sender"
key = { column = "emoji", values = ["👍", "❤️", "😂", "🎉"], weights = [6, 3, 2, 1] }

[tables.conversation_pins]
parent = "conversations"
rate = 1.5
dist = "geometric"
max = 4
actor = "member"
updated_column = ""

[tables.user_badges]
parent = "users"
rate = 0.8
max = 3
actor = "none"
key = { column = "badge", values = ["early", "helper", "streak"] }
"#;
