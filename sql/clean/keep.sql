-- clean, when the survivors are the minority (a few real users among a
-- synthetic dataset): copy exactly the rows the foreign keys' cascade would
-- leave into temp tables, truncate the seven tables, and put the survivors
-- back. Deleting the synthetic rows instead fires four foreign-key triggers
-- per deleted message (a per-row index probe each), minutes at the dev band;
-- this way costs a scan of each table plus the survivors. Only used when no
-- table outside the seven references them (TRUNCATE would refuse).
-- After doomed.sql, in the same transaction.
CREATE TEMP TABLE cs_keep_users ON COMMIT DROP AS
    SELECT u.* FROM "users" u
    WHERE NOT EXISTS (SELECT 1 FROM cs_syn_users s WHERE s."id" = u."id");
CREATE TEMP TABLE cs_keep_conversations ON COMMIT DROP AS
    SELECT c.* FROM "conversations" c
    WHERE NOT EXISTS (SELECT 1 FROM cs_doomed_conversations d WHERE d."id" = c."id");
CREATE TEMP TABLE cs_keep_conversation_users ON COMMIT DROP AS
    SELECT x.* FROM "conversation_users" x
    WHERE NOT EXISTS (SELECT 1 FROM cs_syn_users s WHERE s."id" = x."userId")
      AND NOT EXISTS (SELECT 1 FROM cs_doomed_conversations d WHERE d."id" = x."conversationId");
CREATE TEMP TABLE cs_keep_messages ON COMMIT DROP AS
    SELECT m.* FROM "messages" m
    WHERE NOT EXISTS (SELECT 1 FROM cs_syn_users s WHERE s."id" = m."senderId")
      AND NOT EXISTS (SELECT 1 FROM cs_doomed_conversations d WHERE d."id" = m."conversationId");
ALTER TABLE cs_keep_messages ADD PRIMARY KEY ("id");
ANALYZE cs_keep_messages;
-- What ON DELETE SET NULL does to a surviving reply whose target goes.
UPDATE cs_keep_messages k SET "replyToId" = NULL
    WHERE k."replyToId" IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM cs_keep_messages r WHERE r."id" = k."replyToId");
CREATE TEMP TABLE cs_keep_attachments ON COMMIT DROP AS
    SELECT a.* FROM "attachments" a
    LEFT JOIN cs_keep_messages m ON m."id" = a."messageId"
    WHERE NOT EXISTS (SELECT 1 FROM cs_syn_users s WHERE s."id" = a."uploaderId")
      AND (a."messageId" IS NULL OR m."id" IS NOT NULL);
CREATE TEMP TABLE cs_keep_message_reads ON COMMIT DROP AS
    SELECT x.* FROM "message_reads" x
    JOIN cs_keep_messages m ON m."id" = x."messageId"
    WHERE NOT EXISTS (SELECT 1 FROM cs_syn_users s WHERE s."id" = x."userId");
CREATE TEMP TABLE cs_keep_message_receipts ON COMMIT DROP AS
    SELECT x.* FROM "message_receipts" x
    JOIN cs_keep_messages m ON m."id" = x."messageId"
    WHERE NOT EXISTS (SELECT 1 FROM cs_syn_users s WHERE s."id" = x."userId");
TRUNCATE "users", "conversations", "conversation_users", "messages", "attachments",
    "message_reads", "message_receipts";
INSERT INTO "users" SELECT * FROM cs_keep_users;
INSERT INTO "conversations" SELECT * FROM cs_keep_conversations;
INSERT INTO "conversation_users" SELECT * FROM cs_keep_conversation_users;
INSERT INTO "messages" SELECT * FROM cs_keep_messages;
INSERT INTO "attachments" SELECT * FROM cs_keep_attachments;
INSERT INTO "message_reads" SELECT * FROM cs_keep_message_reads;
INSERT INTO "message_receipts" SELECT * FROM cs_keep_message_receipts;
