//! `chatsynth schema check` against a real PostgreSQL, on chatsynth's own
//! schema (`sql/schema.sql`) in a non-default schema: clean, then drifted.
//! (The team's Prisma-migrated schema is checked in tests/prisma.rs.)

mod common;

use common::*;

fn check(url: &str, schema: &str) -> std::process::Output {
    chatsynth(&["schema", "check", "--database-url", url, "--schema", schema])
}

#[tokio::test]
async fn schema_check_reads_the_named_schema_and_lists_drift_with_fixes() {
    let db = TestDb::new("check").await;
    let c = db.client().await;
    apply_schema(&c, "chat_one").await;
    let o = check(&db.url, "chat_one");
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("schema \"chat_one\""));
    // The public schema of the same database holds nothing: load would create the tables.
    let o = check(&db.url, "public");
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("none of the seven chat tables exists"));

    c.batch_execute(
        "SET search_path TO \"chat_one\";
         ALTER TABLE messages RENAME COLUMN content TO body;
         ALTER TABLE attachments ALTER COLUMN size TYPE bigint;
         ALTER TABLE conversation_users ADD COLUMN \"nickname\" varchar(32) NOT NULL;
         ALTER TABLE conversation_users ADD COLUMN \"score\" integer NOT NULL DEFAULT 7;",
    )
    .await
    .unwrap();
    let o = check(&db.url, "chat_one");
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    for needle in [
        "\n3 problems:\n",
        "#1 column conversation_users.\"nickname\" (character varying(32)) is NOT NULL without a default",
        "ALTER TABLE \"chat_one\".\"conversation_users\" ALTER COLUMN \"nickname\" SET DEFAULT '';",
        "column messages.\"content\" is missing: chatsynth writes it",
        "ALTER TABLE \"chat_one\".\"messages\" ADD COLUMN \"content\" TEXT;",
        "column attachments.\"size\" has type bigint but chatsynth writes integer",
    ] {
        assert!(out.contains(needle), "{needle:?} missing from:\n{out}");
    }
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("score ") && l.ends_with("default: 7")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.trim_start().starts_with("body ") && l.ends_with(" NULL")),
        "{out}"
    );
    // load's preflight refuses it too, and points here.
    let o = run_tiny_load(&db.url, &["--schema", "chat_one"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Run `chatsynth schema check`"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test]
async fn schema_check_refuses_a_hostile_schema_name_with_exit_2() {
    let db = TestDb::new("check_bad").await;
    let o = check(&db.url, "x; DROP TABLE users");
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
}
