-- clean, when the survivors are the majority (or a table outside the seven
-- references them): delete the synthetic rows and every row that would
-- cascade from them, set-based and children first so the foreign keys'
-- per-row cascades find nothing left to do. Each statement is a hash join
-- against a temp table of ids (doomed.sql, run before, in the same
-- transaction). A row doomed on two counts (a synthetic user's read of a
-- doomed message) goes in the first statement that matches it; the second
-- finds it gone. Deleting a message still fires its four foreign-key
-- triggers (a per-row index probe each): linear, but the costly part.
-- One scan of messages, two hash joins: sent by a synthetic user, or in a
-- conversation that goes.
CREATE TEMP TABLE cs_doomed_messages ON COMMIT DROP AS
    SELECT m."id" FROM "messages" m
    LEFT JOIN cs_syn_users s ON s."id" = m."senderId"
    LEFT JOIN cs_doomed_conversations c ON c."id" = m."conversationId"
    WHERE s."id" IS NOT NULL OR c."id" IS NOT NULL;
ALTER TABLE cs_doomed_messages ADD PRIMARY KEY ("id");
ANALYZE cs_doomed_messages;
DELETE FROM "message_receipts" x USING cs_syn_users s WHERE x."userId" = s."id";
DELETE FROM "message_receipts" x USING cs_doomed_messages d WHERE x."messageId" = d."id";
DELETE FROM "message_reads" x USING cs_syn_users s WHERE x."userId" = s."id";
DELETE FROM "message_reads" x USING cs_doomed_messages d WHERE x."messageId" = d."id";
DELETE FROM "attachments" x USING cs_syn_users s WHERE x."uploaderId" = s."id";
DELETE FROM "attachments" x USING cs_doomed_messages d WHERE x."messageId" = d."id";
-- What ON DELETE SET NULL would do, for the replies that stay.
UPDATE "messages" m SET "replyToId" = NULL
    FROM cs_doomed_messages d
    WHERE m."replyToId" = d."id"
      AND NOT EXISTS (SELECT 1 FROM cs_doomed_messages k WHERE k."id" = m."id");
DELETE FROM "messages" m USING cs_doomed_messages d WHERE m."id" = d."id";
DELETE FROM "conversation_users" x USING cs_syn_users s WHERE x."userId" = s."id";
DELETE FROM "conversation_users" x USING cs_doomed_conversations c WHERE x."conversationId" = c."id";
DELETE FROM "conversations" x USING cs_doomed_conversations c WHERE x."id" = c."id";
DELETE FROM "users" x USING cs_syn_users s WHERE x."id" = s."id";
