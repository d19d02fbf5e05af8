-- validate: when messages are sent (one scan, grouped by UTC hour of the window).
-- Hour of day: the UTC hourly histogram. Weekday/weekend: for every weekend whose
-- Friday, Saturday, Sunday and Monday lie wholly inside the window, the messages
-- of its Friday + Monday against those of its Saturday + Sunday. Comparing a
-- weekend with its neighbouring weekdays cancels the dataset's slow ramp up and
-- down over the window (conversations start and end), which a plain
-- all-weekdays/all-weekends rate would confound with the weekday factor.
-- $1 window start (Unix ms), $2 window end (Unix ms).
WITH w AS (
    SELECT to_timestamp(($1::int8)::float8 / 1000) AT TIME ZONE 'UTC' AS start_at,
           to_timestamp(($2::int8)::float8 / 1000) AT TIME ZONE 'UTC' AS end_at
),
hours AS (
    SELECT date_trunc('hour', "createdAt") AS hr, count(*) AS n FROM "messages" GROUP BY 1
),
per_day AS (
    SELECT date_trunc('day', hr) AS day, sum(n) AS n FROM hours GROUP BY 1
),
cal AS (
    SELECT d AS day, coalesce(p.n, 0) AS n
    FROM w CROSS JOIN generate_series(date_trunc('day', w.start_at), w.end_at, interval '1 day') d
    LEFT JOIN per_day p ON p.day = d
    WHERE d >= w.start_at AND d + interval '1 day' <= w.end_at
),
weekends AS (
    SELECT fri.n + mon.n AS neighbours, sat.n + sun.n AS weekend
    FROM cal sat
    JOIN cal fri ON fri.day = sat.day - interval '1 day'
    JOIN cal sun ON sun.day = sat.day + interval '1 day'
    JOIN cal mon ON mon.day = sat.day + interval '2 days'
    WHERE extract(isodow FROM sat.day) = 6
)
SELECT
    (SELECT count(*)::float8 FROM weekends)                                AS weekends_measured,
    (SELECT coalesce(sum(neighbours), 0)::float8 FROM weekends)            AS weekend_neighbour_messages,
    (SELECT coalesce(sum(weekend), 0)::float8 FROM weekends)               AS weekend_messages,
    (SELECT array_agg(coalesce(x.n, 0) ORDER BY g)
       FROM generate_series(0, 23) g
       LEFT JOIN (SELECT extract(hour FROM hr)::int AS h, sum(n) AS n FROM hours GROUP BY 1) x
              ON x.h = g)::int8[]                                          AS hist_hourly
