-- profile: attachments per message, for the sampled messages (all of their
-- attachments, found through "attachments_messageId_idx" or one hash join).
-- $1 sample percent (float4).
WITH per_message AS (
    SELECT m."id", count(a."id") AS k
    FROM "messages" m TABLESAMPLE SYSTEM ($1) REPEATABLE (17)
    LEFT JOIN "attachments" a ON a."messageId" = m."id"
    GROUP BY m."id"
)
SELECT count(*) FILTER (WHERE k = 0) AS k0,
       count(*) FILTER (WHERE k = 1) AS k1,
       count(*) FILTER (WHERE k = 2) AS k2,
       count(*) FILTER (WHERE k = 3) AS k3,
       count(*) FILTER (WHERE k >= 4) AS k4_plus,
       coalesce(sum(k), 0)::int8     AS attachments
FROM per_message
