-- profile: delivery and reading. The (message, recipient) pairs of the sampled
-- messages (members of the room minus the sender), the receipts by state in
-- the sample of "message_receipts", and the read delay (readAt minus the
-- message's createdAt, seconds) of the sampled "message_reads", each joined to
-- its message by primary key. One pass over each sample.
-- $1 sample percent (float4), $2 quantile levels (float8[]).
WITH sizes AS (
    SELECT "conversationId" AS cid, count(*) AS members
    FROM "conversation_users"
    GROUP BY 1
),
pairs AS (
    SELECT count(*) AS messages_seen,
           coalesce(sum(greatest(coalesce(s.members, 0) - 1, 0)), 0)::int8 AS pairs
    FROM "messages" m TABLESAMPLE SYSTEM ($1) REPEATABLE (17)
    LEFT JOIN sizes s ON s.cid = m."conversationId"
),
rc AS (
    SELECT count(*)                                      AS receipts_seen,
           count(*) FILTER (WHERE "state" = 'DELIVERED') AS delivered,
           count(*) FILTER (WHERE "state" = 'READ')      AS read
    FROM "message_receipts" TABLESAMPLE SYSTEM ($1) REPEATABLE (17)
),
rd AS (
    SELECT count(*)                                                   AS reads_seen,
           count(m."id")                                              AS reads_joined,
           percentile_disc($2::float8[]) WITHIN GROUP
               (ORDER BY extract(epoch FROM r."readAt" - m."createdAt")::float8)
               FILTER (WHERE m."id" IS NOT NULL)                      AS delay_q,
           max(extract(epoch FROM r."readAt" - m."createdAt")::float8) AS delay_max
    FROM "message_reads" r TABLESAMPLE SYSTEM ($1) REPEATABLE (17)
    LEFT JOIN "messages" m ON m."id" = r."messageId"
)
SELECT pairs.*, rc.*, rd.* FROM pairs CROSS JOIN rc CROSS JOIN rd
