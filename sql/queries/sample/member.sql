-- Parameter sampling for `chatsynth explain`: an active member of room $1, the
-- one furthest behind in reading (most unread), with the point up to which it
-- has read (its "lastReadAt", or when it joined) in epoch milliseconds.
SELECT cu."userId",
       (extract(epoch FROM COALESCE(cu."lastReadAt", cu."joinedAt")) * 1000)::bigint AS last_read_ms
FROM "conversation_users" AS cu
WHERE cu."conversationId" = $1
  AND cu."isActive" = true
ORDER BY cu."lastReadAt" ASC NULLS FIRST, cu."userId"
LIMIT 1
