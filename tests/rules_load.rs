//! Column rules end to end: a schema grown by a tenant column on users,
//! conversations and messages, a varchar(64) and a decimal(10,2), loaded with
//! a config's rules; and a bad config refused whole (exit 2, nothing written).

mod common;

use common::*;

const CONFIG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/rules-tenant.toml"
);

const GROW: &str = include_str!("fixtures/rules-tenant.sql");

#[tokio::test]
async fn a_grown_schema_loads_with_rules_and_children_carry_their_parents_tenant() {
    let db = TestDb::new("rulesload").await;
    let c = db.client().await;
    apply_schema(&c, "public").await;
    c.batch_execute(GROW).await.unwrap();
    // Without the rules the NOT NULL columns stop the load.
    let o = chatsynth(&["load", "--band", "tiny", "--database-url", &db.url]);
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("tenantId"), "{}", stderr(&o));
    let o = chatsynth(&[
        "load",
        "--band",
        "tiny",
        "--config",
        CONFIG,
        "--database-url",
        &db.url,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let c = db.client().await;
    assert_tiny_counts(&c).await;
    // Each conversation's tenant is its creator's; each message's, its conversation's.
    assert_eq!(
        count(
            &c,
            r#"SELECT count(*) FROM conversations c JOIN users u ON u.id = c."creatorId"
               WHERE c."tenantId" IS DISTINCT FROM u."tenantId""#
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &c,
            r#"SELECT count(*) FROM messages m JOIN conversations c ON c.id = m."conversationId"
               WHERE m."tenantId" IS DISTINCT FROM c."tenantId""#
        )
        .await,
        0
    );
    // The choice's three tenants all occur; weights 5:3:2.
    let acme = count(
        &c,
        r#"SELECT count(*) FROM users WHERE "tenantId" = 'acme'"#,
    )
    .await;
    assert!((70..130).contains(&acme), "{acme} of 200");
    assert_eq!(
        count(&c, r#"SELECT count(DISTINCT "tenantId") FROM messages"#).await,
        3
    );
    assert_eq!(
        count(
            &c,
            r#"SELECT count(*) FROM messages WHERE length("clientRef") NOT BETWEEN 4 AND 64"#
        )
        .await,
        0
    );
    let nulls = count(&c, "SELECT count(*) FROM messages WHERE amount IS NULL").await;
    assert!((2_500..3_500).contains(&nulls), "{nulls} of 10000");
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM messages WHERE amount < 0 OR amount > 99999999.99"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn a_bad_config_is_refused_whole_with_every_problem() {
    let dir = std::env::temp_dir().join(format!("chatsynth-badrules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bad.toml");
    std::fs::write(
        &cfg,
        r#"
[columns."reactions.emoji"]
kind = "constant"
type = "text"
value = "x"
[columns."messages.nosuchcolumn"]
kind = "uuid"
type = "text"
[columns."messages.content"]
kind = "constant"
type = "text"
value = "x"
[columns."messages.amount"]
kind = "uuid"
type = "decimal(10,2)"
"#,
    )
    .unwrap();
    let out = dir.join("out");
    let o = chatsynth(&[
        "generate",
        "--band",
        "tiny",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    for needle in [
        "unknown table 'reactions'",
        "fills messages.content itself",
        "uuid rule cannot fill a column of type decimal(10,2)",
    ] {
        assert!(e.contains(needle), "{needle}: {e}");
    }
    assert!(!out.exists(), "nothing may be written");
    // With a database, the column that does not exist is a problem too,
    // listed with a rule whose type does not fit the column's.
    let db = TestDb::new("badrules").await;
    let c = db.client().await;
    apply_schema(&c, "public").await;
    c.batch_execute(GROW).await.unwrap();
    std::fs::write(
        &cfg,
        r#"
[columns."messages.nosuchcolumn"]
kind = "uuid"
type = "text"
[columns."messages.amount"]
kind = "number"
type = "decimal(12,2)"
min = 0
max = 1
[columns."users.tenantId"]
kind = "constant"
type = "text"
value = "t"
[columns."conversations.tenantId"]
kind = "constant"
type = "text"
value = "t"
[columns."messages.tenantId"]
kind = "constant"
type = "text"
value = "t"
[columns."messages.clientRef"]
kind = "constant"
type = "varchar(64)"
value = "r"
"#,
    )
    .unwrap();
    let o = chatsynth(&[
        "load",
        "--band",
        "tiny",
        "--config",
        cfg.to_str().unwrap(),
        "--database-url",
        &db.url,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("no column messages.nosuchcolumn"), "{e}");
    assert!(
        e.contains("decimal(12,2) does not fit the column's type decimal(10,2)"),
        "{e}"
    );
    assert_eq!(count(&c, "SELECT count(*) FROM messages").await, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// On an empty target schema chatsynth creates the tables itself; a rule
/// naming a column those tables lack is found before anything is created:
/// one error, exit 2, the schema left without tables.
#[tokio::test]
async fn a_missing_rule_column_on_an_empty_schema_creates_nothing() {
    let db = TestDb::new("rulesempty").await;
    let c = db.client().await;
    let dir = std::env::temp_dir().join(format!("chatsynth-emptyrules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("tenant.toml");
    // The tables sql/schema.sql creates have no tenantId.
    std::fs::copy(CONFIG, &cfg).unwrap();
    let o = chatsynth(&[
        "load",
        "--band",
        "tiny",
        "--no-progress",
        "--config",
        cfg.to_str().unwrap(),
        "--database-url",
        &db.url,
        "--schema",
        "fresh",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("no column users.tenantId"), "{e}");
    assert!(e.contains("no column messages.clientRef"), "{e}");
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'fresh' AND c.relkind IN ('r', 'p')"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &c,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'fresh' OR nspname LIKE 'cs\\_stage\\_%'"
        )
        .await,
        0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `choice` on an enum without values chooses uniformly among the
/// target's labels, in the enum's order; the report's dataset records them.
/// `generate` (no database) refuses it.
#[tokio::test]
async fn an_enum_choice_without_values_takes_the_targets_labels() {
    let db = TestDb::new("rulesenum").await;
    let c = db.client().await;
    apply_schema(&c, "public").await;
    c.batch_execute(
        r#"CREATE TYPE "Plan" AS ENUM ('FREE', 'PRO', 'TEAM');
           ALTER TYPE "Plan" ADD VALUE 'BASIC' BEFORE 'PRO';
           ALTER TABLE users ADD COLUMN plan "Plan" NOT NULL;"#,
    )
    .await
    .unwrap();
    let dir = std::env::temp_dir().join(format!("chatsynth-enumrules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("plan.toml");
    std::fs::write(
        &cfg,
        "[columns.\"users.plan\"]\nkind = \"choice\"\ntype = \"enum:Plan\"\n",
    )
    .unwrap();
    let report = dir.join("report.json");
    let o = chatsynth(&[
        "load",
        "--band",
        "tiny",
        "--no-progress",
        "--config",
        cfg.to_str().unwrap(),
        "--database-url",
        &db.url,
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let users = count(&c, "SELECT count(*) FROM users").await;
    for label in ["FREE", "BASIC", "PRO", "TEAM"] {
        let n = count(
            &c,
            &format!("SELECT count(*) FROM users WHERE plan = '{label}'"),
        )
        .await;
        // Uniform: a quarter each, within wide sampling noise.
        assert!(
            n as f64 > 0.15 * users as f64 && (n as f64) < 0.35 * users as f64,
            "{label}: {n} of {users}"
        );
    }
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(
        r["dataset"]["columns"]["users.plan"]["values"],
        serde_json::json!(["FREE", "BASIC", "PRO", "TEAM"]),
        "{}",
        r["dataset"]["columns"]
    );
    // Without a database there are no labels to choose among.
    let o = chatsynth(&[
        "generate",
        "--band",
        "tiny",
        "--config",
        cfg.to_str().unwrap(),
        "--discard",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("without values takes the enum's labels"),
        "{}",
        stderr(&o)
    );
    // A type the target lacks is refused before anything is written.
    std::fs::write(
        &cfg,
        "[columns.\"users.plan\"]\nkind = \"choice\"\ntype = \"enum:Tier\"\n",
    )
    .unwrap();
    let o = chatsynth(&[
        "load",
        "--band",
        "tiny",
        "--no-progress",
        "--truncate",
        "--config",
        cfg.to_str().unwrap(),
        "--database-url",
        &db.url,
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no enum type \"Tier\""),
        "{}",
        stderr(&o)
    );
    assert_eq!(count(&c, "SELECT count(*) FROM users").await, users);
    let _ = std::fs::remove_dir_all(&dir);
}
