-- validate --html: one scan of "messages", hash-aggregated by UTC weekday (ISO,
-- 1 = Monday), hour of day, message type and the length bin of TEXT messages
-- (quarter octaves: bin k holds lengths L with floor(4 log2 L) = k); the few
-- thousand groups are then rolled up into three series (grouping sets over the
-- small result). One row per group; `series` says which grouping.
WITH g AS (
    SELECT extract(isodow FROM "createdAt")::int AS dow,
           extract(hour FROM "createdAt")::int   AS hour,
           "type"::text                          AS type,
           CASE WHEN "type" = 'TEXT' AND "content" IS NOT NULL
                THEN floor(4 * ln(greatest(char_length("content"), 1)::float8) / ln(2) + 1e-9)::int
           END                                   AS len_bin,
           count(*)                              AS n
    FROM "messages"
    GROUP BY 1, 2, 3, 4
)
SELECT CASE WHEN grouping(dow, hour) = 0 THEN 'dow_hour'
            WHEN grouping(type) = 0 THEN 'type'
            ELSE 'text_len' END AS series,
       dow, hour, type, len_bin, sum(n)::int8 AS n
FROM g
GROUP BY GROUPING SETS ((dow, hour), (type), (len_bin))
