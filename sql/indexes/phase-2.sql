-- Phase 2 candidate indexes for the hot-path queries (see the project README,
-- `chatsynth explain`). Apply with `chatsynth explain --apply-indexes phase-2`
-- or `psql -f sql/indexes/phase-2.sql` with search_path set to the target
-- schema. CREATE INDEX CONCURRENTLY cannot run inside a transaction block:
-- run each statement on its own (psql does, unless given --single-transaction
-- or -1). Every statement is idempotent.

-- Q1 (history, newest first) and Q4 (unread count).
CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_messages_conversation_created_desc"
    ON "messages" ("conversationId", "createdAt" DESC);

-- Q3 (conversation list): find a user's active memberships, covering the join key.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_conversation_users_user_active"
    ON "conversation_users" ("userId", "isActive") INCLUDE ("conversationId");

-- Q3 (conversation list): most recently updated conversations first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_conversations_updated_desc"
    ON "conversations" ("updatedAt" DESC);

ANALYZE "messages";
ANALYZE "conversation_users";
ANALYZE "conversations";
