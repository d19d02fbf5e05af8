-- profile: attachments by type, with sizes (bytes) as quantiles, over the
-- sample of "attachments". One pass; one row per attachment type.
-- $1 sample percent (float4), $2 quantile levels (float8[]).
SELECT "type"::text                                              AS kind,
       count(*)                                                  AS n,
       percentile_disc($2::float8[]) WITHIN GROUP (ORDER BY "size") AS q,
       max("size")::int8                                         AS max_n
FROM "attachments" TABLESAMPLE SYSTEM ($1) REPEATABLE (17)
GROUP BY 1
ORDER BY 1
