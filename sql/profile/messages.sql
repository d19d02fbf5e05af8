-- profile: message flags and text lengths, over the sample of "messages"
-- (TABLESAMPLE SYSTEM; REPEATABLE, so every scan of the transaction sees the
-- same blocks). One pass.
-- $1 sample percent (float4), $2 quantile levels (float8[]).
SELECT count(*)                                                     AS seen,
       count(*) FILTER (WHERE "replyToId" IS NOT NULL)              AS replies,
       count(*) FILTER (WHERE "threadId" IS NOT NULL)               AS threaded,
       count(*) FILTER (WHERE "isEdited")                           AS edited,
       count(*) FILTER (WHERE "isDeleted")                          AS deleted,
       count(*) FILTER (WHERE "type" = 'SYSTEM')                    AS system,
       count(*) FILTER (WHERE "type" = 'TEXT' AND "content" IS NOT NULL) AS texts,
       percentile_disc($2::float8[]) WITHIN GROUP (ORDER BY char_length("content"))
           FILTER (WHERE "type" = 'TEXT' AND "content" IS NOT NULL) AS text_q,
       max(char_length("content"))
           FILTER (WHERE "type" = 'TEXT' AND "content" IS NOT NULL)::int8 AS text_max
FROM "messages" TABLESAMPLE SYSTEM ($1) REPEATABLE (17)
