-- validate: user activity skew: the share of all messages sent by the top
-- ceil($1 x users) users by messages sent (users who sent nothing count too).
WITH sent AS (
    SELECT "senderId" AS uid, count(*) AS n FROM "messages" GROUP BY 1
),
ranked AS (
    SELECT coalesce(s.n, 0) AS n, row_number() OVER (ORDER BY coalesce(s.n, 0) DESC) AS rk,
           count(*) OVER () AS total
    FROM "users" u LEFT JOIN sent s ON s.uid = u."id"
)
SELECT
    (sum(n) FILTER (WHERE rk <= ceil($1::float8 * total)))::float8 / nullif(sum(n), 0)::float8
                                                          AS top_user_message_share,
    count(*) FILTER (WHERE n > 0)::float8                 AS senders
FROM ranked
