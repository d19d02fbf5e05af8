-- validate: one scan of "users" (identity, synthetic marker, window, user-level shape).
-- $1 window start (Unix ms), $2 window end (Unix ms). One row; scalars are float8.
WITH w AS (
    SELECT to_timestamp(($1::int8)::float8 / 1000) AT TIME ZONE 'UTC' AS start_at,
           to_timestamp(($2::int8)::float8 / 1000) AT TIME ZONE 'UTC' AS end_at
)
SELECT
    count(*)::float8                                                   AS users,
    (count(*) - count(DISTINCT u."email"))::float8                     AS users_duplicate_email,
    (count(*) - count(DISTINCT u."username"))::float8                  AS users_duplicate_username,
    -- starts_with, never LIKE 'syn_%' (where _ matches any character)
    count(*) FILTER (
        WHERE NOT starts_with(u."email", 'syn_')
           OR lower(substring(u."email" FROM '@([^@]*)$')) !~ '(^|\.)(example\.(com|org|net)|test)$'
           OR substring(u."email" FROM '@([^@]*)$') IS NULL
    )::float8                                                          AS users_not_synthetic,
    count(*) FILTER (WHERE u."createdAt" < w.start_at OR u."createdAt" > w.end_at)::float8
                                                                       AS users_outside_window,
    count(*) FILTER (WHERE u."createdAt" > u."updatedAt")::float8      AS users_created_after_updated,
    avg(u."isActive"::int)::float8                                     AS active_user_share,
    avg(((u."firstName" IS NOT NULL AND u."firstName" <> '')::int
       + (u."lastName" IS NOT NULL AND u."lastName" <> '')::int
       + (u."bio" IS NOT NULL AND u."bio" <> '')::int
       + (u."profileImageUrl" IS NOT NULL AND u."profileImageUrl" <> '')::int) / 4.0)::float8
                                                                       AS profile_completeness_mean,
    avg(char_length(u."username"))::float8                             AS username_len_mean
FROM "users" u CROSS JOIN w
