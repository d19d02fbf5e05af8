-- Q5 read receipt upsert: user $1 marks a batch (10-50) of messages read.
-- $2 the new rows' ids, $3 the message ids (same length). A write: chatsynth
-- measures it inside a transaction that is rolled back.
-- Target p95: 80 ms at 25k req/min.
INSERT INTO "message_reads" ("id", "userId", "messageId", "readAt", "createdAt", "updatedAt")
SELECT b."id", $1, b."messageId", CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP
FROM unnest($2::text[], $3::text[]) AS b("id", "messageId")
ON CONFLICT ("userId", "messageId")
DO UPDATE SET "readAt" = EXCLUDED."readAt", "updatedAt" = EXCLUDED."updatedAt"
