-- profile: concentration of activity. Users ranked by messages sent (in the
-- sample of "messages"; users who sent nothing count too, ties broken by
-- memberships held); the share of messages sent by the top ceil($2 x users)
-- and the share of all memberships those same users hold.
-- $1 sample percent (float4), $2 top-user fraction (0.10).
WITH sent AS (
    SELECT "senderId" AS uid, count(*) AS n
    FROM "messages" TABLESAMPLE SYSTEM ($1) REPEATABLE (17)
    GROUP BY 1
),
held AS (
    SELECT "userId" AS uid, count(*) AS n FROM "conversation_users" GROUP BY 1
),
ranked AS (
    SELECT coalesce(s.n, 0) AS sent, coalesce(h.n, 0) AS held,
           row_number() OVER (ORDER BY coalesce(s.n, 0) DESC, coalesce(h.n, 0) DESC) AS rk,
           count(*) OVER () AS total
    FROM "users" u
    LEFT JOIN sent s ON s.uid = u."id"
    LEFT JOIN held h ON h.uid = u."id"
)
SELECT (sum(sent) FILTER (WHERE rk <= ceil($2::float8 * total)))::float8
           / nullif(sum(sent), 0)::float8                        AS top_message_share,
       (sum(held) FILTER (WHERE rk <= ceil($2::float8 * total)))::float8
           / nullif(sum(held), 0)::float8                        AS top_membership_share,
       count(*) FILTER (WHERE sent > 0)                          AS senders,
       ceil($2::float8 * count(*))::int8                         AS top_users
FROM ranked
