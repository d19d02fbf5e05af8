-- Q3 conversation list: user $1's active conversations, most recently updated
-- first, $2 (20-50) of them. Target p95: 75 ms at 20k req/min.
-- The candidates idx_conversation_users_user_active and
-- idx_conversations_updated_desc target it.
SELECT c."id", c."name", c."type", c."avatarUrl", c."lastMessageAt",
       c."lastMessageId", c."updatedAt"
FROM "conversation_users" AS cu
JOIN "conversations" AS c ON c."id" = cu."conversationId"
WHERE cu."userId" = $1
  AND cu."isActive" = true
ORDER BY c."updatedAt" DESC
LIMIT $2
