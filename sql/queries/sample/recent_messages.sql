-- Parameter sampling for `chatsynth explain`: the newest $2 message ids of room
-- $1 (a read-receipt batch; some may already be read: the upsert's update path).
SELECT m."id"
FROM "messages" AS m
WHERE m."conversationId" = $1
ORDER BY m."createdAt" DESC
LIMIT $2
