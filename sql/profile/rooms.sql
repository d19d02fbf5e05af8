-- profile: messages per conversation, the messages count and the time window.
-- One pass over all of "messages" (never sampled: a block sample would split
-- rooms), grouped by conversation, joined to "conversations" so that rooms
-- without messages count as 0. Only aggregates leave the database; the window
-- is rounded out to whole days.
-- $1 quantile levels (float8[]), $2 the share of top rooms (0.02).
WITH per_room AS (
    SELECT "conversationId" AS cid, count(*) AS n,
           min("createdAt") AS first_at, max("createdAt") AS last_at
    FROM "messages"
    GROUP BY 1
),
rooms AS (
    SELECT coalesce(p.n, 0) AS n
    FROM "conversations" c
    LEFT JOIN per_room p ON p.cid = c."id"
),
ranked AS (
    SELECT n, row_number() OVER (ORDER BY n DESC) AS rk, count(*) OVER () AS total
    FROM rooms
),
room_stats AS (
    SELECT count(*)                                                       AS rooms,
           max(n)::int8                                                   AS max_n,
           percentile_disc($1::float8[]) WITHIN GROUP (ORDER BY n)        AS q,
           (sum(n) FILTER (WHERE rk <= ceil($2::float8 * total)))::float8
               / nullif(sum(n), 0)::float8                                AS top_share
    FROM ranked
),
msg_stats AS (
    SELECT coalesce(sum(n), 0)::int8                                              AS messages,
           to_char(date_trunc('day', min(first_at)), 'YYYY-MM-DD')                AS first_day,
           to_char(date_trunc('day', max(last_at)), 'YYYY-MM-DD')                 AS last_day
    FROM per_room
)
SELECT room_stats.*, msg_stats.* FROM room_stats CROSS JOIN msg_stats
