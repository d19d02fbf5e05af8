-- validate --html: how many conversations have each message count (0 included):
-- one row per distinct count. One hash aggregate over "messages" by
-- conversation, joined to "conversations".
SELECT coalesce(p.n, 0)::int8 AS messages, count(*)::int8 AS conversations
FROM "conversations" c
LEFT JOIN (SELECT "conversationId" AS cid, count(*) AS n FROM "messages" GROUP BY 1) p
       ON p.cid = c."id"
GROUP BY 1
ORDER BY 1
