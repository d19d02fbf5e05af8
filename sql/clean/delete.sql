-- Removes exactly the synthetic rows: users whose email starts with the literal
-- 'syn_' (starts_with, never LIKE 'syn_%', whose _ matches any character), and
-- every row that would cascade from them, set-based and children first so the
-- foreign keys' per-row cascades find nothing left to do. Runs in one
-- transaction with search_path pinned to the target schema.
CREATE TEMP TABLE cs_syn_users ON COMMIT DROP AS
    SELECT "id" FROM "users" WHERE starts_with("email", 'syn_');
CREATE TEMP TABLE cs_doomed_conversations ON COMMIT DROP AS
    SELECT "id" FROM "conversations" WHERE "creatorId" IN (SELECT "id" FROM cs_syn_users);
CREATE TEMP TABLE cs_doomed_messages ON COMMIT DROP AS
    SELECT "id" FROM "messages"
    WHERE "senderId" IN (SELECT "id" FROM cs_syn_users)
       OR "conversationId" IN (SELECT "id" FROM cs_doomed_conversations);
ANALYZE cs_syn_users;
ANALYZE cs_doomed_conversations;
ANALYZE cs_doomed_messages;
DELETE FROM "message_receipts"
    WHERE "messageId" IN (SELECT "id" FROM cs_doomed_messages) OR "userId" IN (SELECT "id" FROM cs_syn_users);
DELETE FROM "message_reads"
    WHERE "messageId" IN (SELECT "id" FROM cs_doomed_messages) OR "userId" IN (SELECT "id" FROM cs_syn_users);
DELETE FROM "attachments"
    WHERE "messageId" IN (SELECT "id" FROM cs_doomed_messages) OR "uploaderId" IN (SELECT "id" FROM cs_syn_users);
-- What ON DELETE SET NULL would do, for replies that stay.
UPDATE "messages" SET "replyToId" = NULL
    WHERE "replyToId" IN (SELECT "id" FROM cs_doomed_messages) AND "id" NOT IN (SELECT "id" FROM cs_doomed_messages);
DELETE FROM "messages" WHERE "id" IN (SELECT "id" FROM cs_doomed_messages);
DELETE FROM "conversation_users"
    WHERE "userId" IN (SELECT "id" FROM cs_syn_users) OR "conversationId" IN (SELECT "id" FROM cs_doomed_conversations);
DELETE FROM "conversations" WHERE "id" IN (SELECT "id" FROM cs_doomed_conversations);
DELETE FROM "users" WHERE "id" IN (SELECT "id" FROM cs_syn_users);
