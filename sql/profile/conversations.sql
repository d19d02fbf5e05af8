-- profile: conversations by type, with members per conversation as quantiles.
-- One pass over "conversation_users" (grouped by conversation) and one over
-- "conversations"; one row per conversation type.
-- $1 quantile levels (float8[]).
WITH sizes AS (
    SELECT "conversationId" AS cid, count(*) AS members
    FROM "conversation_users"
    GROUP BY 1
)
SELECT c."type"::text                                                             AS kind,
       count(*)                                                                   AS n,
       percentile_disc($1::float8[]) WITHIN GROUP (ORDER BY coalesce(s.members, 0)) AS q,
       max(coalesce(s.members, 0))::int8                                          AS max_n,
       avg(coalesce(s.members, 0))::float8                                        AS mean
FROM "conversations" c
LEFT JOIN sizes s ON s.cid = c."id"
GROUP BY 1
ORDER BY 1
