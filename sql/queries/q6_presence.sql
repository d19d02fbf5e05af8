-- Q6 presence: the active members of conversation $1 with their username and
-- profile image. Target p95: 20 ms at 10k req/min.
SELECT u."id", u."username", u."profileImageUrl", u."isOnline", u."lastSeenAt",
       cu."role"
FROM "conversation_users" AS cu
JOIN "users" AS u ON u."id" = cu."userId"
WHERE cu."conversationId" = $1
  AND cu."isActive" = true
