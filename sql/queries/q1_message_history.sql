-- Q1 message history: the newest $2 (20-100, usually 50) messages of
-- conversation $1, newest first. Target p95: 50 ms at 50k req/min.
-- Served today by Prisma's ("conversationId", "createdAt") index scanned
-- backward; the candidate idx_messages_conversation_created_desc targets it.
SELECT m."id", m."content", m."type", m."status", m."isEdited", m."isDeleted",
       m."replyToId", m."threadId", m."metadata", m."senderId", m."createdAt",
       m."updatedAt"
FROM "messages" AS m
WHERE m."conversationId" = $1
ORDER BY m."createdAt" DESC
LIMIT $2
