-- Q2 message insert (a write: chatsynth measures it inside a transaction that
-- is rolled back). $1 id, $2 content, $3 idempotencyKey, $4 correlationId,
-- $5 senderId (a member of the conversation), $6 conversationId.
-- Target p95: 100 ms at 30k req/min.
INSERT INTO "messages" ("id", "content", "type", "status", "idempotencyKey",
                        "correlationId", "senderId", "conversationId",
                        "createdAt", "updatedAt")
VALUES ($1, $2, 'TEXT', 'SENT', $3, $4, $5, $6, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)
RETURNING "id", "createdAt"
