//! Child tables declared in the config (`[tables.<name>]`), loaded into a
//! real PostgreSQL: off messages, conversations and users; their keys and
//! indexes rebuilt from the catalog; distinct per unique key; rows after
//! their parent and before the window's end; the same rows for any worker
//! count; a declaration that does not fit the target refused before anything
//! is written.

mod common;

use common::*;

fn write_config(tag: &str, text: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("children-{tag}-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

fn report_path(url: &str) -> String {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!(
            "children-report-{}-{}.json",
            std::process::id(),
            url.rsplit('/').next().unwrap()
        ))
        .to_string_lossy()
        .into_owned()
}

/// `validate` with the load's report: (exit code, stdout).
fn validate(url: &str) -> (Option<i32>, String) {
    let out = format!("{}.validate.json", report_path(url));
    let o = chatsynth(&[
        "validate",
        "--database-url",
        url,
        "--report",
        &report_path(url),
        "--out",
        &out,
    ]);
    let _ = std::fs::remove_file(&out);
    (o.status.code(), stdout(&o))
}

fn load(url: &str, config: &str, extra: &[&str]) -> std::process::Output {
    let report = report_path(url);
    let mut args = vec![
        "load",
        "--band",
        "tiny",
        "--no-progress",
        "--database-url",
        url,
        "--config",
        config,
        "--report",
        &report,
    ];
    args.extend_from_slice(extra);
    chatsynth(&args)
}

async fn table_checksum(c: &tokio_postgres::Client, table: &str) -> String {
    c.query_one(
        &format!("SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t"),
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test]
async fn declared_child_tables_load_with_their_keys_and_rates() {
    let db = TestDb::new("children").await;
    let c = db.client().await;
    apply_schema(&c, "public").await;
    c.batch_execute(CHILD_TABLES_SQL).await.unwrap();
    let config = write_config("ok", CHILD_TABLES_CONFIG);
    let o = load(&db.url, &config, &["--workers", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let one = [
        table_checksum(&c, "message_reactions").await,
        table_checksum(&c, "conversation_pins").await,
        table_checksum(&c, "user_badges").await,
    ];

    // Every constraint and index of the declared tables was rebuilt.
    let constraints = count(
        &c,
        "SELECT count(*) FROM pg_constraint WHERE conrelid IN \
         ('message_reactions'::regclass, 'conversation_pins'::regclass, 'user_badges'::regclass) \
         AND contype IN ('p', 'u', 'f')",
    )
    .await;
    assert_eq!(constraints, 4 + 4 + 3);
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'message_reactions_user_idx'"
        )
        .await,
        1
    );
    // Reactions: by a member of the room other than the sender, after the
    // message, before the window's end (2026-01-01), never twice the same key.
    let reactions = count(&c, "SELECT count(*) FROM message_reactions").await;
    let messages = count(&c, "SELECT count(*) FROM messages").await;
    assert!(reactions > 0);
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM message_reactions r JOIN messages m ON m.id = r.\"messageId\" \
             WHERE r.\"userId\" = m.\"senderId\" OR r.\"createdAt\" <= m.\"createdAt\" \
             OR r.\"createdAt\" >= '2026-01-01' OR r.\"updatedAt\" <> r.\"createdAt\" \
             OR NOT EXISTS (SELECT 1 FROM conversation_users cu WHERE cu.\"conversationId\" = m.\"conversationId\" \
                            AND cu.\"userId\" = r.\"userId\")",
        )
        .await,
        0
    );
    // Emoji weights 6:3:2:1: the most common is the first.
    let top: String = c
        .query_one(
            "SELECT emoji FROM message_reactions GROUP BY emoji ORDER BY count(*) DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(top, "👍");
    // Near the rate: 0.4 per message, less where a room has too few other
    // members (a direct message offers 1 member x 4 emoji, the cap is 5).
    let rate = reactions as f64 / messages as f64;
    assert!((0.3..0.42).contains(&rate), "{rate}");
    // The untouched column keeps its NULL.
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM message_reactions WHERE note IS NOT NULL"
        )
        .await,
        0
    );
    // Pins: members of the room; badges: one of each at most per user.
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM conversation_pins p WHERE NOT EXISTS (SELECT 1 FROM conversation_users cu \
             WHERE cu.\"conversationId\" = p.\"conversationId\" AND cu.\"userId\" = p.\"userId\")"
        )
        .await,
        0
    );
    assert!(count(&c, "SELECT count(*) FROM conversation_pins").await > 0);
    let badges = count(&c, "SELECT count(*) FROM user_badges").await;
    assert!(badges > 0 && badges <= 3 * 200, "{badges}");

    // The same rows with three workers, and a second load replaces them.
    let o = load(&db.url, &config, &["--workers", "3", "--truncate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let three = [
        table_checksum(&c, "message_reactions").await,
        table_checksum(&c, "conversation_pins").await,
        table_checksum(&c, "user_badges").await,
    ];
    assert_eq!(one, three);

    // validate checks the declared tables: GO, each table's checks listed.
    let (code, out) = validate(&db.url);
    assert_eq!(code, Some(0), "{out}");
    for t in ["message_reactions", "conversation_pins", "user_badges"] {
        for what in [
            "duplicate unique keys",
            "rows without their parent",
            "rows per parent",
        ] {
            let line = out
                .lines()
                .find(|l| l.starts_with(&format!("{t}: {what}")))
                .unwrap_or_else(|| panic!("{t}: {what} in {out}"));
            assert!(line.ends_with("pass"), "{line}");
        }
    }
    // A duplicate key (the constraint dropped to let it in) is NO-GO.
    c.batch_execute(
        "ALTER TABLE message_reactions DROP CONSTRAINT message_reactions_unique;
         INSERT INTO message_reactions SELECT id || 'x', \"messageId\", \"userId\", emoji, \"createdAt\", \"updatedAt\", note
         FROM message_reactions LIMIT 1",
    )
    .await
    .unwrap();
    let (code, out) = validate(&db.url);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("critical check failed: message_reactions: duplicate unique keys"),
        "{out}"
    );
    let _ = std::fs::remove_file(report_path(&db.url));
}

#[tokio::test]
async fn a_declaration_that_does_not_fit_is_refused_before_anything_is_written() {
    let db = TestDb::new("children_bad").await;
    let c = db.client().await;
    apply_schema(&c, "public").await;
    c.batch_execute(
        "CREATE TABLE loose_notes (id TEXT PRIMARY KEY, \"messageId\" TEXT NOT NULL, \
         \"createdAt\" TIMESTAMP(3) NOT NULL, \"updatedAt\" TIMESTAMP(3) NOT NULL)",
    )
    .await
    .unwrap();
    let cases = [
        // No foreign key into a chat table, and a table the target lacks.
        (
            "fk",
            "[tables.loose_notes]\nparent = \"messages\"\nrate = 1\nactor = \"none\"\n\
             [tables.missing]\nparent = \"users\"\nrate = 1\nactor = \"none\"\n",
            &[
                "needs a foreign key into a chat table",
                "no table \"missing\"",
            ][..],
        ),
        (
            "parent",
            "[tables.loose_notes]\nparent = \"posts\"\nrate = 1\n",
            &["unknown variant `posts`"][..],
        ),
        (
            "dist",
            "[tables.loose_notes]\nparent = \"messages\"\nrate = -2\nmax = 100\n",
            &["rate must be", "max must be within 1..=64"][..],
        ),
        (
            "builtin",
            "[tables.messages]\nparent = \"users\"\nrate = 1\nactor = \"none\"\n",
            &["tables chatsynth fills itself"][..],
        ),
    ];
    for (tag, text, expected) in cases {
        let o = load(&db.url, &write_config(tag, text), &[]);
        assert_eq!(o.status.code(), Some(2), "{tag}: {}", stderr(&o));
        for e in expected {
            assert!(stderr(&o).contains(e), "{tag}: {e:?} in {}", stderr(&o));
        }
        assert_eq!(count(&c, "SELECT count(*) FROM users").await, 0, "{tag}");
        assert_eq!(
            count(
                &c,
                "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs\\_stage\\_%'"
            )
            .await,
            0
        );
    }
}
