//! `chatsynth validate` against real loads: a fresh tiny load is GO, and each
//! kind of damage done to a loaded dataset with SQL is NO-GO (exit 1), naming
//! the check that caught it. Inputs it cannot use exit 2.

mod common;

use std::path::PathBuf;

use common::{chatsynth, run_tiny_load, stderr, stdout, TestDb};
use serde_json::Value;

struct Loaded {
    db: TestDb,
    dir: PathBuf,
    report: PathBuf,
}

impl Drop for Loaded {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh database with a tiny load in it, and the load report.
async fn tiny_load(tag: &str) -> Loaded {
    let db = TestDb::new(tag).await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("chatsynth-validate-{}", db.name));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("load.json");
    let o = run_tiny_load(&db.url, &["--report", report.to_str().unwrap()]);
    assert!(
        o.status.success(),
        "load failed: {}\n{}",
        stdout(&o),
        stderr(&o)
    );
    Loaded { db, dir, report }
}

/// Runs validate against the load (with its report); returns (exit code, JSON, stdout).
fn validate(l: &Loaded, with_report: bool) -> (i32, Value, String) {
    let out = l.dir.join(format!("validate-{with_report}.json"));
    let _ = std::fs::remove_file(&out);
    let mut args = vec![
        "validate",
        "--database-url",
        &l.db.url,
        "--out",
        out.to_str().unwrap(),
    ];
    if with_report {
        args.extend(["--report", l.report.to_str().unwrap()]);
    }
    let o = chatsynth(&args);
    let code = o.status.code().unwrap_or(-1);
    let text = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("no result JSON ({e}): {}\n{}", stdout(&o), stderr(&o)));
    (code, serde_json::from_str(&text).unwrap(), stdout(&o))
}

fn check<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check named {name:?}"))
}

fn critical_failures(v: &Value) -> Vec<String> {
    v["decision"]["critical_failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// NO-GO, exit 1, and `name` among the failed critical checks (and on the terminal).
fn assert_caught(code: i32, v: &Value, out: &str, name: &str) {
    assert_eq!(code, 1, "expected NO-GO exit 1:\n{out}");
    assert_eq!(v["decision"]["verdict"], "NO-GO");
    let failed = critical_failures(v);
    assert!(
        failed.iter().any(|f| f == name),
        "{name:?} not among {failed:?}"
    );
    assert!(
        out.contains(&format!("critical check failed: {name}")),
        "{out}"
    );
}

#[tokio::test]
async fn a_fresh_tiny_load_is_go_with_and_without_its_report() {
    let l = tiny_load("v_go").await;
    let (code, v, out) = validate(&l, true);
    assert_eq!(code, 0, "{out}");
    assert_eq!(v["decision"]["verdict"], "GO");
    let checks = v["checks"].as_array().unwrap();
    assert!(checks.len() >= 50, "{}", checks.len());
    let fidelity = checks
        .iter()
        .filter(|c| c["category"] == "fidelity")
        .count();
    assert!(fidelity >= 15);
    for c in checks.iter().filter(|c| c["kind"] == "critical") {
        assert_eq!(c["status"], "pass", "{c}");
    }
    assert_eq!(
        check(
            &v,
            "heavy rooms: message share of the top 2% of conversations"
        )["expect"]["target"],
        v["realised_targets"]["heavy_room_message_share"]
    );
    let h = &v["histograms"];
    assert_eq!(
        h["messages_by_hour_utc"]["counts"]
            .as_array()
            .unwrap()
            .len(),
        24
    );
    let sizes: i64 = h["conversation_sizes_members"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .sum();
    assert_eq!(sizes, 300);
    assert!(h["messages_per_conversation_log2"]["counts"].is_array());
    assert!(out.contains("decision: GO"), "{out}");

    // Without the report: the band is inferred from the counts and the realised
    // targets come from the plan.
    let (code, v, out) = validate(&l, false);
    assert_eq!(code, 0, "{out}");
    assert!(v["targets_source"]
        .as_str()
        .unwrap()
        .contains("inferred from the row counts"));
    assert_eq!(
        check(&v, "messages per conversation: p95")["status"],
        "pass"
    );
}

#[tokio::test]
async fn a_direct_message_that_lost_a_member_is_no_go() {
    let l = tiny_load("v_dm").await;
    let c = l.db.client().await;
    let n = c
        .execute(
            r#"DELETE FROM "conversation_users" WHERE "id" = (
                 SELECT cu."id" FROM "conversation_users" cu
                 JOIN "conversations" k ON k."id" = cu."conversationId"
                 WHERE k."type" = 'DIRECT_MESSAGE' ORDER BY cu."id" LIMIT 1)"#,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let (code, v, out) = validate(&l, true);
    assert_caught(
        code,
        &v,
        &out,
        "direct messages have exactly two distinct members",
    );
}

#[tokio::test]
async fn a_sender_who_is_not_a_member_is_no_go() {
    let l = tiny_load("v_sender").await;
    let c = l.db.client().await;
    // A marked synthetic user who belongs to no conversation sends one message.
    c.batch_execute(
        r#"INSERT INTO "users" ("id", "email", "username", "updatedAt", "createdAt")
             SELECT 'cstranger00000000000000000', 'syn_stranger@example.com', 'syn_stranger',
                    min("createdAt"), min("createdAt") FROM "users";
           UPDATE "messages" SET "senderId" = 'cstranger00000000000000000'
             WHERE "id" = (SELECT "id" FROM "messages" ORDER BY "id" LIMIT 1);"#,
    )
    .await
    .unwrap();
    let (code, v, out) = validate(&l, true);
    assert_caught(code, &v, &out, "senders are members");
    assert_eq!(check(&v, "senders are members")["measured"], 1.0);
}

#[tokio::test]
async fn a_timestamp_out_of_order_is_no_go() {
    let l = tiny_load("v_order").await;
    let c = l.db.client().await;
    // The second message of a busy conversation takes the first one's time.
    let n = c
        .execute(
            r#"WITH conv AS (
                 SELECT "conversationId" AS cid FROM "messages"
                 GROUP BY 1 HAVING count(*) >= 5 ORDER BY 1 LIMIT 1),
               ordered AS (
                 SELECT m."id", m."createdAt",
                        row_number() OVER (ORDER BY m."createdAt", m."id") AS rn
                 FROM "messages" m JOIN conv ON m."conversationId" = conv.cid)
               UPDATE "messages" m SET "createdAt" = first."createdAt"
               FROM ordered second, ordered first
               WHERE second.rn = 2 AND first.rn = 1 AND m."id" = second."id""#,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let (code, v, out) = validate(&l, true);
    assert_caught(
        code,
        &v,
        &out,
        "createdAt strictly increasing per conversation",
    );
}

#[tokio::test]
async fn a_type_mix_far_off_target_is_no_go() {
    let l = tiny_load("v_types").await;
    let c = l.db.client().await;
    // A third of the TEXT messages become IMAGE messages (with no attachment).
    let n = c
        .execute(
            r#"UPDATE "messages" SET "type" = 'IMAGE'
               WHERE "type" = 'TEXT' AND abs(hashtext("id")) % 3 = 0"#,
            &[],
        )
        .await
        .unwrap();
    assert!(n > 1_000, "{n}");
    let (code, v, out) = validate(&l, true);
    assert_caught(code, &v, &out, "non-TEXT message share");
}

#[tokio::test]
async fn heavy_rooms_flattened_are_no_go_though_integrity_holds() {
    let l = tiny_load("v_heavy").await;
    let c = l.db.client().await;
    // Cap every conversation at its first 20 messages (the heavy rooms lose their
    // weight), then repair everything that depends on the last message, so the
    // dataset stays consistent and only its shape is wrong.
    c.batch_execute(
        r#"DELETE FROM "messages" m USING (
             SELECT "id", row_number() OVER (PARTITION BY "conversationId"
                                             ORDER BY "createdAt", "id") AS rn
             FROM "messages") x
           WHERE x."id" = m."id" AND x.rn > 20;
           UPDATE "conversations" k
             SET "lastMessageAt" = l."createdAt", "lastMessageId" = l."id", "updatedAt" = l."createdAt"
             FROM (SELECT DISTINCT ON ("conversationId") "conversationId", "id", "createdAt"
                   FROM "messages" ORDER BY "conversationId", "createdAt" DESC, "id" DESC) l
             WHERE l."conversationId" = k."id";
           UPDATE "conversation_users" SET "lastReadAt" = NULL, "lastReadMessageId" = NULL;
           UPDATE "conversation_users" cu
             SET "lastReadAt" = x.at, "lastReadMessageId" = x.mid
             FROM (SELECT DISTINCT ON (r."userId", m."conversationId")
                          r."userId" AS uid, m."conversationId" AS cid, m."id" AS mid, m."createdAt" AS at
                   FROM "message_reads" r JOIN "messages" m ON m."id" = r."messageId"
                   ORDER BY r."userId", m."conversationId", m."createdAt" DESC) x
             WHERE x.uid = cu."userId" AND x.cid = cu."conversationId";"#,
    )
    .await
    .unwrap();
    let (code, v, out) = validate(&l, true);
    for ch in v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["category"] == "integrity" && c["kind"] == "critical")
    {
        assert_eq!(ch["status"], "pass", "{ch}");
    }
    assert_caught(
        code,
        &v,
        &out,
        "heavy rooms: message share of the top 2% of conversations",
    );
}

#[tokio::test]
async fn inputs_it_cannot_use_exit_2() {
    let db = TestDb::new("v_bad").await;
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("chatsynth-validate-{}", db.name));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("v.json");
    let out = out.to_str().unwrap();

    // An unreadable report.
    let o = chatsynth(&[
        "validate",
        "--database-url",
        &db.url,
        "--report",
        "/nonexistent/load.json",
        "--out",
        out,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot read load report"),
        "{}",
        stderr(&o)
    );

    // A file that is not a load report.
    let bogus = dir.join("bogus.json");
    std::fs::write(&bogus, "{\"hello\": 1}").unwrap();
    let o = chatsynth(&[
        "validate",
        "--database-url",
        &db.url,
        "--report",
        bogus.to_str().unwrap(),
        "--out",
        out,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // An empty database: nothing to validate.
    let o = chatsynth(&[
        "validate",
        "--database-url",
        &db.url,
        "--band",
        "tiny",
        "--out",
        out,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("missing tables"), "{}", stderr(&o));
    assert!(!std::path::Path::new(out).exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The integrity counts of reads, receipts and attachments are exact: damage
/// of each kind, done by hand with the foreign keys dropped, shows up as the
/// number of rows damaged, in the metric that names it. (These queries read
/// each table once and aggregate in one pass; this pins down that nothing
/// the per-row lookups used to catch slips through.)
#[tokio::test]
async fn damaged_reads_receipts_and_attachments_are_counted_exactly() {
    let l = tiny_load("v_counts").await;
    let c = l.db.client().await;
    c.batch_execute(
        r#"DO $$ DECLARE r record; BEGIN
             FOR r IN SELECT conrelid::regclass AS t, conname FROM pg_constraint
                      WHERE contype = 'f' AND conrelid::regclass::text IN
                        ('message_reads', 'message_receipts', 'attachments', 'conversation_users')
             LOOP EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.t, r.conname); END LOOP;
           END $$;"#,
    )
    .await
    .unwrap();
    // Each damage, and the number of rows it must touch.
    let damage: [(&str, u64); 10] = [
        // Reads: 2 of a missing message, 1 by a missing user (who is thereby
        // also a reader outside the room's members).
        (
            r#"INSERT INTO "message_reads" ("id", "userId", "messageId", "readAt", "updatedAt")
               SELECT 'bad_r' || "id", "userId", 'gone_' || "id", "readAt", "updatedAt"
               FROM "message_reads" ORDER BY "id" LIMIT 2"#,
            2,
        ),
        (
            r#"INSERT INTO "message_reads" ("id", "userId", "messageId", "readAt", "updatedAt")
               SELECT 'bad_u' || "id", 'nobody', "messageId", "readAt", "updatedAt"
               FROM "message_reads" WHERE "id" NOT LIKE 'bad%' ORDER BY "id" LIMIT 1"#,
            1,
        ),
        // Three members' last-read pointers go wrong, one way each: to a message
        // of another room, to a missing message, and to a message whose read row
        // is deleted.
        (
            r#"UPDATE "conversation_users" cu SET "lastReadMessageId" =
                 (SELECT m."id" FROM "messages" m WHERE m."conversationId" <> cu."conversationId"
                  ORDER BY m."id" LIMIT 1)
               WHERE cu."id" = (SELECT "id" FROM "conversation_users"
                                WHERE "lastReadMessageId" IS NOT NULL ORDER BY "id" LIMIT 1)"#,
            1,
        ),
        (
            r#"UPDATE "conversation_users" SET "lastReadMessageId" = 'gone_message'
               WHERE "id" = (SELECT "id" FROM "conversation_users"
                             WHERE "lastReadMessageId" IS NOT NULL ORDER BY "id" OFFSET 1 LIMIT 1)"#,
            1,
        ),
        (
            r#"DELETE FROM "message_reads" r USING (
                 SELECT "userId", "lastReadMessageId" FROM "conversation_users"
                 WHERE "lastReadMessageId" IS NOT NULL ORDER BY "id" OFFSET 2 LIMIT 1) cu
               WHERE r."userId" = cu."userId" AND r."messageId" = cu."lastReadMessageId""#,
            1,
        ),
        // Receipts: 2 of a missing message, 1 by a missing user, 3 stamped
        // before their message.
        (
            r#"INSERT INTO "message_receipts" ("id", "state", "timestamp", "messageId", "userId", "updatedAt")
               SELECT 'bad_x' || "id", "state", "timestamp", 'gone_' || "id", "userId", "updatedAt"
               FROM "message_receipts" ORDER BY "id" LIMIT 2"#,
            2,
        ),
        (
            r#"INSERT INTO "message_receipts" ("id", "state", "timestamp", "messageId", "userId", "updatedAt")
               SELECT 'bad_y' || "id", "state", "timestamp", "messageId", 'nobody', "updatedAt"
               FROM "message_receipts" WHERE "id" NOT LIKE 'bad%' ORDER BY "id" LIMIT 1"#,
            1,
        ),
        (
            r#"UPDATE "message_receipts" SET "timestamp" = "timestamp" - interval '1000 days'
               WHERE "id" IN (SELECT "id" FROM "message_receipts" WHERE "id" NOT LIKE 'bad%'
                              ORDER BY "id" OFFSET 10 LIMIT 3)"#,
            3,
        ),
        // Attachments: 3 of a missing message, 2 by a missing uploader.
        (
            r#"UPDATE "attachments" SET "messageId" = 'gone_' || "id"
               WHERE "id" IN (SELECT "id" FROM "attachments" WHERE "messageId" IS NOT NULL
                              ORDER BY "id" LIMIT 3)"#,
            3,
        ),
        (
            r#"UPDATE "attachments" SET "uploaderId" = 'nobody'
               WHERE "id" IN (SELECT "id" FROM "attachments" ORDER BY "id" DESC LIMIT 2)"#,
            2,
        ),
    ];
    for (sql, rows) in damage {
        let n = c
            .execute(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(n, rows, "{sql}");
    }

    let (code, v, out) = validate(&l, true);
    assert_eq!(code, 1, "expected NO-GO:\n{out}");
    let m = &v["measured"];
    for (metric, want) in [
        ("orphan_message_reads_message", 2.0),
        ("orphan_message_reads_user", 1.0),
        ("reads_by_non_member", 1.0),
        ("last_read_message_invalid", 3.0),
        ("orphan_message_receipts_message", 2.0),
        ("orphan_message_receipts_user", 1.0),
        ("receipts_outside_message_and_window", 3.0),
        ("orphan_attachments_message", 3.0),
        ("orphan_attachments_uploader", 2.0),
    ] {
        assert_eq!(m[metric], want, "{metric}: {}", m[metric]);
    }
    assert_eq!(v["decision"]["verdict"], "NO-GO");
}
