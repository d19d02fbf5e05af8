-- validate: messages in conversation order (one sort of "messages"): strictly
-- increasing createdAt, the real last message, and messages per conversation.
-- Percentiles use percentile_cont (linear interpolation) over all conversations,
-- including any with no message. Heavy rooms: the top ceil($1 x conversations)
-- conversations by message count.
-- $1 heavy-room fraction (e.g. 0.02).
WITH o AS (
    SELECT "conversationId" AS cid, "id", "createdAt" AS at,
           lag("createdAt") OVER w AS prev_at,
           lead("id") OVER w IS NULL AS is_last
    FROM "messages"
    WINDOW w AS (PARTITION BY "conversationId" ORDER BY "createdAt", "id")
),
per AS (
    SELECT cid, count(*) AS n,
           count(*) FILTER (WHERE at <= prev_at) AS not_increasing,
           max(at) AS last_at,
           max("id") FILTER (WHERE is_last) AS last_id
    FROM o GROUP BY cid
),
conv AS (
    SELECT c."lastMessageAt", c."lastMessageId", coalesce(p.n, 0) AS n, p.last_at, p.last_id
    FROM "conversations" c LEFT JOIN per p ON p.cid = c."id"
),
ranked AS (
    SELECT n, row_number() OVER (ORDER BY n DESC) AS rk, count(*) OVER () AS total FROM conv
),
buckets AS (
    SELECT CASE WHEN n = 0 THEN -1 ELSE least(floor(ln(n) / ln(2) + 1e-9)::int, 16) END AS k, count(*) AS c
    FROM conv GROUP BY 1
)
SELECT
    (SELECT coalesce(sum(not_increasing), 0)::float8 FROM per)                 AS messages_not_increasing,
    count(*) FILTER (WHERE "lastMessageAt" IS DISTINCT FROM last_at
                        OR "lastMessageId" IS DISTINCT FROM last_id)::float8   AS conversations_last_message_mismatch,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY n)::float8                     AS mpc_median,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY n)::float8                    AS mpc_p95,
    max(n)::float8                                                             AS mpc_max,
    count(*) FILTER (WHERE n < 50)::float8                                     AS conversations_under_50,
    count(*) FILTER (WHERE n > 1000)::float8                                   AS conversations_over_1000,
    (SELECT (sum(n) FILTER (WHERE rk <= ceil($1::float8 * total)))::float8 / nullif(sum(n), 0)::float8
       FROM ranked)                                                            AS heavy_room_message_share,
    (SELECT array_agg(coalesce(b.c, 0) ORDER BY g)
       FROM generate_series(-1, 16) g LEFT JOIN buckets b ON b.k = g)::int8[]  AS hist_messages_per_conversation
FROM conv
