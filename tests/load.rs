//! The core load against a real PostgreSQL: schema.sql read back from the
//! catalog, a tiny load's exact counts and integrity checked with independent
//! SQL, determinism across worker counts, and bad input refused cleanly.

mod common;

use common::*;

fn load(url: &str, extra: &[&str]) -> std::process::Output {
    let report = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "chatsynth-test-report-{}-{}.json",
        std::process::id(),
        url.rsplit('/').next().unwrap()
    ));
    let mut args = vec!["load", "--band", "tiny", "--database-url", url, "--report"];
    let report = report.to_string_lossy().into_owned();
    args.push(&report);
    args.extend_from_slice(extra);
    let out = chatsynth(&args);
    let _ = std::fs::remove_file(&report);
    out
}

fn assert_ok(o: &std::process::Output) {
    assert!(
        o.status.success(),
        "chatsynth failed: {}\n{}",
        stderr(o),
        stdout(o)
    );
}

#[tokio::test]
async fn schema_sql_matches_the_prisma_conventions() {
    let db = TestDb::new("schema").await;
    let c = db.client().await;
    apply_schema(&c, "public").await;
    let enums: Vec<(String, String)> = pairs(
        &c,
        "SELECT t.typname::text, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) \
             FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY 1 ORDER BY 1",
    )
    .await;
    let expected = [
        ("AttachmentType", "IMAGE,VIDEO,AUDIO,DOCUMENT,OTHER"),
        ("ConversationRole", "MEMBER,ADMIN,OWNER"),
        ("ConversationType", "DIRECT_MESSAGE,GROUP_CHAT,CHANNEL"),
        ("MessageReceiptState", "SENT,DELIVERED,READ"),
        ("MessageStatus", "SENT,DELIVERED,READ,DELETED"),
        ("MessageType", "TEXT,IMAGE,FILE,AUDIO,VIDEO,LOCATION,SYSTEM"),
        (
            "VisibilityType",
            "PUBLIC,CONNECTIONS_ONLY,CLOSE_FRIENDS_ONLY,PRIVATE",
        ),
    ];
    let got: Vec<(&str, &str)> = enums
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(got, expected);

    // Every table: id TEXT pk, createdAt default CURRENT_TIMESTAMP, updatedAt NOT NULL without default.
    for t in TABLES {
        let row = c
            .query_one(
                "SELECT format_type(a.atttypid, a.atttypmod), a.attnotnull, \
                        pg_get_expr(d.adbin, d.adrelid) \
                 FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
                 WHERE a.attrelid = $1::text::regclass AND a.attname = 'createdAt'",
                &[&t],
            )
            .await
            .unwrap();
        assert_eq!(
            row.get::<_, String>(0),
            "timestamp(3) without time zone",
            "{t}"
        );
        assert!(row.get::<_, bool>(1));
        assert_eq!(
            row.get::<_, Option<String>>(2).as_deref(),
            Some("CURRENT_TIMESTAMP")
        );
        let upd = c
            .query_one(
                "SELECT a.attnotnull, a.atthasdef FROM pg_attribute a \
                 WHERE a.attrelid = $1::text::regclass AND a.attname = 'updatedAt'",
                &[&t],
            )
            .await
            .unwrap();
        assert!(
            upd.get::<_, bool>(0) && !upd.get::<_, bool>(1),
            "{t}.updatedAt"
        );
        let pk: String = c
            .query_one(
                "SELECT conname::text FROM pg_constraint WHERE conrelid = $1::text::regclass AND contype = 'p'",
                &[&t],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(pk, format!("{t}_pkey"));
    }
    // Nullability and types of a sample of columns from docs/schema.md and sql/schema.sql.
    for (t, col, ty, notnull) in [
        ("users", "email", "text", true),
        ("users", "firstName", "text", false),
        ("users", "profileVisibility", "\"VisibilityType\"", true),
        (
            "users",
            "lastSeenAt",
            "timestamp(3) without time zone",
            false,
        ),
        ("conversations", "maxMembers", "integer", false),
        ("conversations", "type", "\"ConversationType\"", true),
        ("messages", "metadata", "jsonb", false),
        ("messages", "idempotencyKey", "text", true),
        ("messages", "content", "text", false),
        ("attachments", "messageId", "text", false),
        ("attachments", "size", "integer", true),
        ("message_receipts", "state", "\"MessageReceiptState\"", true),
    ] {
        let r = c
            .query_one(
                "SELECT format_type(atttypid, atttypmod), attnotnull FROM pg_attribute \
                 WHERE attrelid = $1::text::regclass AND attname = $2",
                &[&t, &col],
            )
            .await
            .unwrap_or_else(|e| panic!("{t}.{col}: {e}"));
        assert_eq!(
            (r.get::<_, String>(0).as_str(), r.get::<_, bool>(1)),
            (ty, notnull),
            "{t}.{col}"
        );
    }
    let indexes: Vec<String> = c
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for name in [
        "users_email_key",
        "users_username_key",
        "users_isOnline_lastSeenAt_idx",
        "conversations_updatedAt_idx",
        "conversations_type_isActive_idx",
        "conversations_creatorId_idx",
        "conversation_users_userId_conversationId_key",
        "conversation_users_userId_conversationId_idx",
        "conversation_users_conversationId_isActive_idx",
        "conversation_users_userId_isActive_idx",
        "messages_conversationId_id_key",
        "messages_idempotencyKey_key",
        "messages_conversationId_createdAt_idx",
        "messages_senderId_idx",
        "messages_threadId_idx",
        "messages_replyToId_idx",
        "messages_type_isDeleted_idx",
        "messages_idempotencyKey_idx",
        "messages_correlationId_idx",
        "attachments_messageId_idx",
        "attachments_uploaderId_idx",
        "attachments_type_idx",
        "message_reads_userId_messageId_key",
        "message_reads_messageId_idx",
        "message_reads_userId_idx",
        "message_receipts_messageId_userId_state_key",
        "message_receipts_messageId_idx",
        "message_receipts_userId_idx",
        "message_receipts_state_idx",
    ] {
        assert!(indexes.iter().any(|i| i == name), "index {name} missing");
    }
    assert_eq!(
        indexes.len(),
        29 + 7,
        "29 secondary indexes + 7 primary keys"
    );
    let fks: Vec<(String, String)> = pairs(&c, "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f' ORDER BY 1").await;
    assert_eq!(fks.len(), 12);
    for (name, def) in &fks {
        assert!(def.contains("ON UPDATE CASCADE"), "{name}: {def}");
        let on_delete = if name == "messages_replyToId_fkey" {
            "ON DELETE SET NULL"
        } else {
            "ON DELETE CASCADE"
        };
        assert!(def.contains(on_delete), "{name}: {def}");
    }
}

/// The catalog's indexes and constraints of a schema, for before/after comparison.
async fn catalog_shape(c: &tokio_postgres::Client, schema: &str) -> Vec<String> {
    c.query(
        "SELECT 'i:' || indexname || ':' || regexp_replace(indexdef, ' ON [^ .]+\\.', ' ON ') FROM pg_indexes \
         WHERE schemaname = $1 AND tablename <> 'chatsynth_runs' \
         UNION ALL SELECT 'c:' || con.conname || ':' || pg_get_constraintdef(con.oid) || ':' || con.convalidated \
         FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace \
         WHERE n.nspname = $1 AND con.conrelid::regclass::text <> 'chatsynth_runs' \
         ORDER BY 1",
        &[&schema],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[tokio::test]
async fn tiny_load_has_exact_counts_and_every_integrity_rule_holds() {
    let db = TestDb::new("tiny").await;
    let c = db.client().await;
    apply_schema(&c, "public").await;
    let before = catalog_shape(&c, "public").await;
    let o = load(&db.url, &[]);
    assert_ok(&o);
    assert!(stdout(&o).contains("messages"), "summary printed");

    assert_eq!(count(&c, "SELECT count(*) FROM users").await, 200);
    assert_eq!(count(&c, "SELECT count(*) FROM conversations").await, 300);
    assert_eq!(count(&c, "SELECT count(*) FROM messages").await, 10_000);
    for t in [
        "conversation_users",
        "attachments",
        "message_reads",
        "message_receipts",
    ] {
        assert!(
            count(&c, &format!("SELECT count(*) FROM {t}")).await > 0,
            "{t} empty"
        );
    }
    // Every index and constraint of the schema is back, validated, with the same definitions.
    assert_eq!(catalog_shape(&c, "public").await, before);
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs\\_stage\\_%'"
        )
        .await,
        0
    );

    let zero = [
        // orphans (independent of the foreign keys)
        "SELECT count(*) FROM conversations c LEFT JOIN users u ON u.id = c.\"creatorId\" WHERE u.id IS NULL",
        "SELECT count(*) FROM conversation_users m LEFT JOIN users u ON u.id = m.\"userId\" LEFT JOIN conversations c ON c.id = m.\"conversationId\" WHERE u.id IS NULL OR c.id IS NULL",
        "SELECT count(*) FROM messages m LEFT JOIN conversations c ON c.id = m.\"conversationId\" WHERE c.id IS NULL",
        "SELECT count(*) FROM attachments a LEFT JOIN messages m ON m.id = a.\"messageId\" WHERE m.id IS NULL",
        "SELECT count(*) FROM message_reads r LEFT JOIN messages m ON m.id = r.\"messageId\" WHERE m.id IS NULL",
        "SELECT count(*) FROM message_receipts r LEFT JOIN messages m ON m.id = r.\"messageId\" WHERE m.id IS NULL",
        // direct messages: exactly two distinct members and no name
        "SELECT count(*) FROM conversations c WHERE c.type = 'DIRECT_MESSAGE' AND (c.name IS NOT NULL OR \
           (SELECT count(DISTINCT \"userId\") FROM conversation_users m WHERE m.\"conversationId\" = c.id) <> 2)",
        // groups: a name and exactly one OWNER
        "SELECT count(*) FROM conversations c WHERE c.type <> 'DIRECT_MESSAGE' AND (c.name IS NULL OR \
           (SELECT count(*) FROM conversation_users m WHERE m.\"conversationId\" = c.id AND m.role = 'OWNER') <> 1)",
        // senders are members who joined before sending
        "SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM conversation_users cu \
           WHERE cu.\"conversationId\" = m.\"conversationId\" AND cu.\"userId\" = m.\"senderId\" AND cu.\"joinedAt\" < m.\"createdAt\")",
        // strictly increasing timestamps within a conversation
        "SELECT count(*) FROM (SELECT \"createdAt\" <= lag(\"createdAt\") OVER (PARTITION BY \"conversationId\" ORDER BY \"createdAt\", id) AS bad FROM messages) x WHERE bad",
        // nothing before the conversation
        "SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.\"conversationId\" WHERE m.\"createdAt\" < c.\"createdAt\"",
        // replies point at earlier messages of the same conversation
        "SELECT count(*) FROM messages m JOIN messages p ON p.id = m.\"replyToId\" WHERE p.\"conversationId\" <> m.\"conversationId\" OR p.\"createdAt\" >= m.\"createdAt\"",
        // lastMessageAt / lastMessageId match the real last message
        "SELECT count(*) FROM conversations c JOIN LATERAL (SELECT id, \"createdAt\" FROM messages m WHERE m.\"conversationId\" = c.id ORDER BY \"createdAt\" DESC LIMIT 1) l ON true \
           WHERE c.\"lastMessageId\" <> l.id OR c.\"lastMessageAt\" <> l.\"createdAt\"",
        // lastReadAt agrees with the reads and is not after the last message
        "SELECT count(*) FROM conversation_users cu JOIN conversations c ON c.id = cu.\"conversationId\" WHERE cu.\"lastReadAt\" > c.\"lastMessageAt\"",
        "SELECT count(*) FROM conversation_users cu WHERE cu.\"lastReadMessageId\" IS NOT NULL AND NOT EXISTS \
           (SELECT 1 FROM message_reads r JOIN messages m ON m.id = r.\"messageId\" WHERE r.\"userId\" = cu.\"userId\" \
            AND r.\"messageId\" = cu.\"lastReadMessageId\" AND m.\"conversationId\" = cu.\"conversationId\" AND m.\"createdAt\" = cu.\"lastReadAt\")",
        "SELECT count(*) FROM message_reads r JOIN messages m ON m.id = r.\"messageId\" JOIN conversation_users cu \
           ON cu.\"conversationId\" = m.\"conversationId\" AND cu.\"userId\" = r.\"userId\" \
           WHERE cu.\"lastReadAt\" IS NULL OR m.\"createdAt\" > cu.\"lastReadAt\"",
        // createdAt <= updatedAt everywhere
        "SELECT (SELECT count(*) FROM users WHERE \"createdAt\" > \"updatedAt\") + (SELECT count(*) FROM conversations WHERE \"createdAt\" > \"updatedAt\") \
           + (SELECT count(*) FROM messages WHERE \"createdAt\" > \"updatedAt\") + (SELECT count(*) FROM conversation_users WHERE \"createdAt\" > \"updatedAt\")",
        // synthetic marker on a reserved domain
        "SELECT count(*) FROM users WHERE NOT starts_with(email, 'syn_') OR NOT email LIKE '%@example.com'",
        // reads happen after the message
        "SELECT count(*) FROM message_reads r JOIN messages m ON m.id = r.\"messageId\" WHERE r.\"readAt\" < m.\"createdAt\"",
    ];
    for sql in zero {
        assert_eq!(count(&c, sql).await, 0, "violated: {sql}");
    }
    assert_eq!(
        count(
            &c,
            "SELECT count(DISTINCT \"idempotencyKey\") FROM messages"
        )
        .await,
        10_000
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM users WHERE id !~ '^c[0-9a-z]{24}$'"
        )
        .await,
        0,
        "cuid-shaped ids"
    );
}

#[tokio::test]
async fn same_seed_same_rows_for_any_worker_count() {
    let db = TestDb::new("determinism").await;
    let c = db.client().await;
    assert_ok(&load(
        &db.url,
        &["--schema", "w1", "--workers", "1", "--streams", "1"],
    ));
    assert_ok(&load(
        &db.url,
        &[
            "--schema",
            "w4",
            "--workers",
            "4",
            "--streams",
            "3",
            "--chunk-kib",
            "16",
        ],
    ));
    assert_ok(&load(&db.url, &["--schema", "other", "--seed", "43"]));
    let (a, b, other) = (
        checksums(&c, "w1").await,
        checksums(&c, "w4").await,
        checksums(&c, "other").await,
    );
    assert_eq!(a, b, "1 and 4 workers differ");
    for (i, t) in TABLES.iter().enumerate() {
        assert_ne!(a[i], other[i], "{t}: another seed gave the same rows");
    }
}

#[tokio::test]
async fn bad_input_gets_one_clear_error_and_writes_nothing() {
    let db = TestDb::new("badinput").await;
    let c = db.client().await;

    let o = chatsynth(&["load", "--band", "huge", "--database-url", &db.url]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown band 'huge'"), "{}", stderr(&o));

    for (flag, v) in [
        ("--messages", "0"),
        ("--users", "-5"),
        ("--conversations", "0"),
    ] {
        let o = chatsynth(&["load", "--band", "tiny", flag, v, "--database-url", &db.url]);
        assert_eq!(o.status.code(), Some(2), "{flag} {v}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("must be a positive number"),
            "{}",
            stderr(&o)
        );
    }
    // Nothing was created by the refused runs.
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        )
        .await,
        0
    );

    let o = chatsynth(&[
        "load",
        "--band",
        "tiny",
        "--database-url",
        "postgres://postgres@127.0.0.1:1/nowhere",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("cannot connect to postgres@127.0.0.1:1/nowhere"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"));

    // A loaded target is refused without --truncate, and left exactly as it was.
    assert_ok(&load(&db.url, &[]));
    let before = checksums(&c, "public").await;
    let o = load(&db.url, &["--seed", "7"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already hold rows"), "{}", stderr(&o));
    assert!(stderr(&o).contains("--truncate"));
    assert_eq!(checksums(&c, "public").await, before);
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs\\_stage\\_%'"
        )
        .await,
        0
    );

    // With --truncate the dataset is replaced by the new seed's.
    assert_ok(&load(&db.url, &["--seed", "7", "--truncate"]));
    let after = checksums(&c, "public").await;
    assert_ne!(after, before);
    assert_eq!(count(&c, "SELECT count(*) FROM messages").await, 10_000);

    // Real (non-synthetic) users are never replaced unless explicitly allowed.
    c.batch_execute(
        "INSERT INTO users (id, email, username, \"updatedAt\") VALUES ('creal0000000000000000000', 'synergy@corp.test', 'synergy', now())",
    )
    .await
    .unwrap();
    let o = load(&db.url, &["--truncate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("not synthetic"), "{}", stderr(&o));
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM users WHERE email = 'synergy@corp.test'"
        )
        .await,
        1
    );
}

/// sql/schema.sql with `createdAt`/`updatedAt` moved right after `id` in every
/// table, as a Prisma model listing them first would generate.
fn reordered_schema() -> String {
    let sql = include_str!("../sql/schema.sql");
    let mut out = Vec::new();
    let mut table: Vec<&str> = Vec::new();
    let mut in_table = false;
    for line in sql.lines() {
        if line.starts_with("CREATE TABLE") {
            in_table = true;
        }
        if in_table {
            table.push(line);
            if line.starts_with(");") {
                let stamps: Vec<&str> = table
                    .iter()
                    .copied()
                    .filter(|l| l.contains("\"createdAt\"") || l.contains("\"updatedAt\""))
                    .collect();
                for l in &table {
                    if stamps.contains(l) {
                        continue;
                    }
                    out.push(l.to_string());
                    if l.trim_start().starts_with("\"id\" TEXT NOT NULL") {
                        out.extend(stamps.iter().map(|s| s.to_string()));
                    }
                }
                table.clear();
                in_table = false;
            }
        } else {
            out.push(line.to_string());
        }
    }
    out.join("\n")
}

#[tokio::test]
async fn loads_into_a_prisma_migrated_database() {
    let db = TestDb::new("prisma").await;
    let c = db.client().await;
    // What `prisma migrate deploy` leaves besides the models' tables.
    c.batch_execute(
        "CREATE TABLE \"_prisma_migrations\" (
            \"id\" VARCHAR(36) PRIMARY KEY NOT NULL, \"checksum\" VARCHAR(64) NOT NULL,
            \"finished_at\" TIMESTAMPTZ, \"migration_name\" VARCHAR(255) NOT NULL, \"logs\" TEXT,
            \"rolled_back_at\" TIMESTAMPTZ, \"started_at\" TIMESTAMPTZ NOT NULL DEFAULT now(),
            \"applied_steps_count\" INTEGER NOT NULL DEFAULT 0);
         INSERT INTO \"_prisma_migrations\" (id, checksum, migration_name, finished_at, applied_steps_count)
            VALUES ('0b7c', 'abc', '20250101000000_init', now(), 1);",
    )
    .await
    .unwrap();
    let schema = reordered_schema();
    assert!(schema.contains("\"id\" TEXT NOT NULL,\n    \"createdAt\""));
    c.batch_execute(&schema).await.unwrap();
    let before = catalog_shape(&c, "public").await;
    assert_ok(&load(&db.url, &[]));
    assert_eq!(count(&c, "SELECT count(*) FROM messages").await, 10_000);
    assert_eq!(
        count(&c, "SELECT count(*) FROM \"_prisma_migrations\"").await,
        1
    );
    // Column order, indexes and constraints are exactly as the migration made them.
    assert_eq!(catalog_shape(&c, "public").await, before);
    let second: String = c
        .query_one(
            "SELECT attname::text FROM pg_attribute WHERE attrelid = 'messages'::regclass AND attnum = 2",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(second, "createdAt");
    assert_eq!(
        count(&c, "SELECT count(*) FROM messages m LEFT JOIN users u ON u.id = m.\"senderId\" WHERE u.id IS NULL").await,
        0
    );
}

#[tokio::test]
async fn foreign_keys_from_other_tables_survive_the_swap() {
    let db = TestDb::new("extfk").await;
    let c = db.client().await;
    apply_schema(&c, "public").await;
    // A table of the application's own, pointing into the chat tables.
    c.batch_execute(
        "CREATE TABLE reactions (id TEXT PRIMARY KEY, emoji TEXT NOT NULL,
            \"messageId\" TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE)",
    )
    .await
    .unwrap();
    assert_ok(&load(&db.url, &[]));
    assert_ok(&load(&db.url, &["--truncate", "--seed", "5"]));
    let def: String = c
        .query_one(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'reactions'::regclass AND contype = 'f'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        def.contains("REFERENCES messages(id) ON DELETE CASCADE"),
        "{def}"
    );
    // It points at the new messages table: a reaction to a new message is accepted.
    c.batch_execute("INSERT INTO reactions SELECT 'r1', '👍', id FROM messages LIMIT 1")
        .await
        .unwrap();
    // Rows that reference the dataset make the next swap fail cleanly: nothing changes.
    let before = checksums(&c, "public").await;
    let o = load(&db.url, &["--truncate", "--seed", "6"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("reactions"), "{}", stderr(&o));
    assert_eq!(checksums(&c, "public").await, before);
    assert_eq!(count(&c, "SELECT count(*) FROM reactions").await, 1);
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'cs\\_stage\\_%'"
        )
        .await,
        0
    );
}
