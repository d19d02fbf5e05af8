-- profile: messages by type, ISO day of week (1 Monday .. 7 Sunday) and hour
-- of day (UTC), over the sample of "messages". One pass, at most 7 x 7 x 24 rows.
-- $1 sample percent (float4).
SELECT "type"::text                                   AS kind,
       extract(isodow FROM "createdAt")::int4         AS dow,
       extract(hour FROM "createdAt")::int4           AS hour,
       count(*)                                       AS n
FROM "messages" TABLESAMPLE SYSTEM ($1) REPEATABLE (17)
GROUP BY 1, 2, 3
