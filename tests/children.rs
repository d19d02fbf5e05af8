//! Child tables declared in the config (`[tables.<name>]`), loaded into a
//! real PostgreSQL: off messages, conversations and users; their keys and
//! indexes rebuilt from the catalog; distinct per unique key; rows after
//! their parent and before the window's end; the same rows for any worker
//! count; a declaration that does not fit the target refused before anything
//! is written.

mod common;

use common::*;

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

#[tokio::test]
async fn declared_child_tables_load_with_their_keys_and_rates() {
    let db = TestDb::new("children").await;
    let c = db.client().await;
    apply_schema(&c, "public").await;
    c.batch_execute(CHILD_TABLES_SQL).await.unwrap();
    let config = write_config("children-ok", CHILD_TABLES_CONFIG);
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
        let o = load(
            &db.url,
            &write_config(&format!("children-{tag}"), text),
            &[],
        );
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

/// A declared table's own columns with column rules: its tenant is its
/// message's (`parent`), a column of its reactor's (the actor, as `users`),
/// a text with NULLs; the key column keeps its weighted choice.
#[tokio::test]
async fn column_rules_fill_a_declared_tables_own_columns() {
    let db = TestDb::new("children_rules").await;
    let c = db.client().await;
    apply_schema(&c, "public").await;
    c.batch_execute(
        r#"
        ALTER TABLE users ADD COLUMN "tenantId" TEXT NOT NULL;
        ALTER TABLE conversations ADD COLUMN "tenantId" TEXT NOT NULL;
        ALTER TABLE messages ADD COLUMN "tenantId" TEXT NOT NULL;
        ALTER TABLE messages ADD COLUMN "roomRef" TEXT NOT NULL;
        ALTER TABLE messages ADD COLUMN "sentAt" TIMESTAMPTZ(3);
        CREATE TABLE message_reactions (
            id TEXT PRIMARY KEY,
            "messageId" TEXT NOT NULL REFERENCES messages(id),
            "userId" TEXT NOT NULL REFERENCES users(id),
            emoji VARCHAR(16) NOT NULL,
            "tenantId" TEXT NOT NULL,
            "reactorTenant" TEXT NOT NULL,
            note TEXT,
            "messageRef" TEXT NOT NULL,
            "createdAt" TIMESTAMP(3) NOT NULL,
            UNIQUE ("messageId", "userId", emoji)
        );
        "#,
    )
    .await
    .unwrap();
    let config = write_config(
        "children-rules",
        r#"
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

[columns."message_reactions.tenantId"]
kind = "parent"
type = "text"
parent = "messages"

[columns."messages.roomRef"]
kind = "copy"
type = "text"
column = "conversationId"

[columns."messages.sentAt"]
kind = "copy"
type = "timestamptz"
column = "createdAt"

[columns."message_reactions.messageRef"]
kind = "copy"
type = "text"
column = "messageId"

[columns."message_reactions.reactorTenant"]
kind = "parent"
type = "text"
parent = "users"
column = "tenantId"

[columns."message_reactions.note"]
kind = "text"
type = "text"
min = 3
max = 20
null_share = 0.5

[tables.message_reactions]
parent = "messages"
rate = 0.5
max = 5
key = { column = "emoji", values = ["a", "b", "c"], weights = [8, 1, 1] }
updated_column = ""
"#,
    );
    let o = load(&db.url, &config, &["--workers", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let reactions = count(&c, "SELECT count(*) FROM message_reactions").await;
    assert!(reactions > 1000, "{reactions}");
    // Every reaction carries its message's tenant and its reactor's.
    assert_eq!(
        count(
            &c,
            r#"SELECT count(*) FROM message_reactions r
               JOIN messages m ON m.id = r."messageId" JOIN users u ON u.id = r."userId"
               WHERE r."tenantId" <> m."tenantId" OR r."reactorTenant" <> u."tenantId""#,
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &c,
            r#"SELECT count(DISTINCT "tenantId") FROM message_reactions"#
        )
        .await,
        3
    );
    // Copies of columns the generators fill: the row's own fields.
    assert_eq!(
        count(
            &c,
            r#"SELECT count(*) FROM messages WHERE "roomRef" <> "conversationId"
               OR "sentAt" IS DISTINCT FROM "createdAt" AT TIME ZONE 'UTC'"#
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &c,
            r#"SELECT count(*) FROM message_reactions WHERE "messageRef" <> "messageId""#
        )
        .await,
        0
    );
    // The text rule: about half NULL, the others 3..=20 characters.
    let nulls = count(
        &c,
        "SELECT count(*) FROM message_reactions WHERE note IS NULL",
    )
    .await;
    let share = nulls as f64 / reactions as f64;
    assert!((0.4..0.6).contains(&share), "{share}");
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM message_reactions WHERE length(note) NOT BETWEEN 3 AND 20"
        )
        .await,
        0
    );
    // The key column's weighted choice (8:1:1): "a" is most of them.
    let a = count(
        &c,
        "SELECT count(*) FROM message_reactions WHERE emoji = 'a'",
    )
    .await;
    assert!(a as f64 > 0.6 * reactions as f64, "{a} of {reactions}");
    // The same rows for any worker count.
    let one = table_checksum(&c, "message_reactions").await;
    let o = load(&db.url, &config, &["--workers", "3", "--truncate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(one, table_checksum(&c, "message_reactions").await);

    // Refused before anything is written: a rule on a column the child
    // generator fills, a parent its rows do not have, a column the table lacks.
    c.batch_execute("TRUNCATE users, conversations, messages, message_reactions CASCADE")
        .await
        .unwrap();
    let bad = std::fs::read_to_string(&config).unwrap()
        + r#"
[columns."message_reactions.emoji"]
kind = "constant"
type = "text"
value = "x"

[columns."message_reactions.convTenant"]
kind = "parent"
type = "text"
parent = "conversations"
column = "tenantId"
"#;
    let o = load(&db.url, &write_config("children-rules_bad", &bad), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("fills message_reactions.emoji itself"), "{e}");
    assert!(
        e.contains("message_reactions rows have no conversations parent (theirs: messages, users)"),
        "{e}"
    );
    let missing = std::fs::read_to_string(&config).unwrap()
        + "[columns.\"message_reactions.mood\"]\nkind = \"constant\"\ntype = \"text\"\nvalue = \"x\"\n";
    let o = load(
        &db.url,
        &write_config("children-rules_missing", &missing),
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no column message_reactions.mood"),
        "{}",
        stderr(&o)
    );
    assert_eq!(count(&c, "SELECT count(*) FROM users").await, 0);
    let _ = std::fs::remove_file(report_path(&db.url));
}

/// `profile --config` measures each declared table's rows per parent (the
/// mean and the 0/1/2/3/4+ mix, as for attachments per message); a load
/// fitted to that profile echoes it beside the declared rate.
#[tokio::test]
async fn profile_measures_the_declared_tables_rows_per_parent() {
    let db = TestDb::new("children_profile").await;
    let c = db.client().await;
    apply_schema(&c, "public").await;
    c.batch_execute(CHILD_TABLES_SQL).await.unwrap();
    let config = write_config("children-profile", CHILD_TABLES_CONFIG);
    let o = load(&db.url, &config, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shape = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("children-shape-{}.json", std::process::id()));
    let o = chatsynth(&[
        "profile",
        "--database-url",
        &db.url,
        "--config",
        &config,
        "--out",
        shape.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("rows per message parent"),
        "{}",
        stdout(&o)
    );
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&shape).unwrap()).unwrap();
    for (table, parent, col) in [
        ("message_reactions", "messages", "messageId"),
        ("conversation_pins", "conversations", "conversationId"),
        ("user_badges", "users", "userId"),
    ] {
        let m = &p["child_tables"][table];
        assert_eq!(m["parent"], parent, "{m}");
        let rows = count(&c, &format!("SELECT count(*) FROM {table}")).await;
        let parents = count(&c, &format!("SELECT count(*) FROM {parent}")).await;
        let mean = m["mean_per_parent"].as_f64().unwrap();
        let want = rows as f64 / parents as f64;
        assert!(
            (mean - want).abs() <= 1e-5 * want,
            "{table}: {mean} vs {want}"
        );
        assert_eq!(m["per_parent"]["n"].as_i64(), Some(parents), "{m}");
        let none = parents
            - count(
                &c,
                &format!("SELECT count(DISTINCT \"{col}\") FROM {table}"),
            )
            .await;
        let share = m["per_parent"]["shares"]["0"].as_f64().unwrap();
        assert!(
            (share - none as f64 / parents as f64).abs() < 1e-3,
            "{table}: {share} vs {none} of {parents}"
        );
    }
    // A load fitted to the profile echoes the measured rate beside the declared one.
    let report = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("children-fit-{}.json", std::process::id()));
    let o = chatsynth(&[
        "generate",
        "--profile",
        shape.to_str().unwrap(),
        "--config",
        &config,
        "--discard",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mean = p["child_tables"]["message_reactions"]["mean_per_parent"]
        .as_f64()
        .unwrap();
    assert!(
        stderr(&o).contains(&format!(
            "profile: message_reactions measured {mean} rows per message parent"
        )) && stderr(&o).contains("the config declares rate = 0.4"),
        "{}",
        stderr(&o)
    );
    let _ = (std::fs::remove_file(&shape), std::fs::remove_file(&report));
    let _ = std::fs::remove_file(report_path(&db.url));
}
