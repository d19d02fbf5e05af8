-- validate: when messages are sent (one scan): the UTC hour-of-day histogram and
-- weekday/weekend counts, with the number of weekday and weekend hours in the
-- window as exposure (so a window with 5 weekdays and 2 weekend days compares
-- per-day rates).
-- $1 window start (Unix ms), $2 window end (Unix ms).
WITH w AS (
    SELECT to_timestamp($1::float8 / 1000) AT TIME ZONE 'UTC' AS start_at,
           to_timestamp($2::float8 / 1000) AT TIME ZONE 'UTC' AS end_at
),
h AS (
    SELECT extract(hour FROM "createdAt")::int AS hr,
           extract(isodow FROM "createdAt") >= 6 AS weekend,
           count(*) AS n
    FROM "messages" GROUP BY 1, 2
),
e AS (
    SELECT count(*) FILTER (WHERE extract(isodow FROM t) < 6)::float8  AS weekday_hours,
           count(*) FILTER (WHERE extract(isodow FROM t) >= 6)::float8 AS weekend_hours
    FROM w, generate_series(w.start_at, w.end_at - interval '1 millisecond', interval '1 hour') t
)
SELECT
    e.*,
    (SELECT coalesce(sum(n) FILTER (WHERE NOT weekend), 0)::float8 FROM h) AS weekday_messages,
    (SELECT coalesce(sum(n) FILTER (WHERE weekend), 0)::float8 FROM h)     AS weekend_messages,
    (SELECT array_agg(coalesce(x.n, 0) ORDER BY g)
       FROM generate_series(0, 23) g
       LEFT JOIN (SELECT hr, sum(n) AS n FROM h GROUP BY hr) x ON x.hr = g)::int8[] AS hist_hourly
FROM e
