-- profile: delivery and reading, measured on the sampled messages: each one's
-- recipients (members of its room minus the sender) and its receipts by state
-- (one hash join of the receipts with the sampled messages), and its reads
-- with their delay (readAt minus the message's createdAt, seconds). Shares
-- are over the (message, recipient) pairs of the messages that have any
-- receipt, so they do not depend on which rooms get receipts at all; that is
-- the covered share (covered / messages_seen).
-- $1 sample percent (float4), $2 quantile levels (float8[]).
WITH sizes AS (
    SELECT "conversationId" AS cid, count(*) AS members
    FROM "conversation_users"
    GROUP BY 1
),
rc AS (
    SELECT x."messageId" AS mid,
           count(*)                                        AS receipts,
           count(*) FILTER (WHERE x."state" = 'DELIVERED') AS delivered,
           count(*) FILTER (WHERE x."state" = 'READ')      AS read
    FROM "message_receipts" x
    JOIN "messages" m TABLESAMPLE SYSTEM ($1) REPEATABLE (17) ON m."id" = x."messageId"
    GROUP BY 1
),
per_message AS (
    SELECT greatest(coalesce(s.members, 0) - 1, 0) AS recipients,
           coalesce(rc.receipts, 0) AS receipts, coalesce(rc.delivered, 0) AS delivered,
           coalesce(rc.read, 0) AS read
    FROM "messages" m TABLESAMPLE SYSTEM ($1) REPEATABLE (17)
    LEFT JOIN sizes s ON s.cid = m."conversationId"
    LEFT JOIN rc ON rc.mid = m."id"
),
totals AS (
    SELECT count(*)                                                         AS messages_seen,
           count(*) FILTER (WHERE receipts > 0)                     AS covered,
           coalesce(sum(recipients) FILTER (WHERE receipts > 0), 0)::int8 AS pairs,
           coalesce(sum(receipts), 0)::int8                                 AS receipts_seen,
           coalesce(sum(delivered), 0)::int8                                AS delivered,
           coalesce(sum(read), 0)::int8                                     AS read
    FROM per_message
),
delay AS (
    SELECT count(*)                                                           AS reads_seen,
           percentile_disc($2::float8[]) WITHIN GROUP
               (ORDER BY extract(epoch FROM x."readAt" - m."createdAt")::float8) AS delay_q,
           max(extract(epoch FROM x."readAt" - m."createdAt")::float8)          AS delay_max
    FROM "message_reads" x
    JOIN "messages" m TABLESAMPLE SYSTEM ($1) REPEATABLE (17) ON m."id" = x."messageId"
)
SELECT totals.*, delay.* FROM totals CROSS JOIN delay
