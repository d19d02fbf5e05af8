-- validate: conversations with their memberships (one scan of each).
-- Class rules (docs/validate.md): DIRECT_MESSAGE has exactly two distinct MEMBERs and no
-- name; GROUP_CHAT/CHANNEL have a name and exactly one OWNER, the creator.
-- $1 window start (Unix ms), $2 window end (Unix ms).
-- Index scans are off: at 20M messages the planner joined memberships to
-- conversations by a merge join of two whole-index scans, which visit the
-- heap in index order (about 1M blocks visited for tables of 32k and 7k); seq
-- scans and hashes read each table once (docs/scale.md, "validate at 20M").
-- set: enable_indexscan = off
WITH w AS (
    SELECT to_timestamp(($1::int8)::float8 / 1000) AT TIME ZONE 'UTC' AS start_at,
           to_timestamp(($2::int8)::float8 / 1000) AT TIME ZONE 'UTC' AS end_at
),
m AS (
    SELECT cu."conversationId"                                               AS cid,
           count(*)                                                          AS members,
           count(DISTINCT cu."userId")                                       AS distinct_users,
           count(*) FILTER (WHERE cu."role" = 'OWNER')                       AS owners,
           count(*) FILTER (WHERE cu."role" = 'OWNER' AND cu."userId" = c."creatorId") AS creator_owners,
           count(*) FILTER (WHERE cu."role" <> 'MEMBER')                     AS privileged,
           count(*) FILTER (WHERE u."id" IS NULL)                            AS orphan_user,
           count(*) FILTER (WHERE c."id" IS NULL)                            AS orphan_conversation,
           count(*) FILTER (WHERE cu."joinedAt" < c."createdAt")             AS joined_before_conversation,
           count(*) FILTER (WHERE cu."createdAt" > cu."updatedAt")           AS created_after_updated
    FROM "conversation_users" cu
    LEFT JOIN "conversations" c ON c."id" = cu."conversationId"
    LEFT JOIN "users" u ON u."id" = cu."userId"
    GROUP BY cu."conversationId"
),
conv AS (
    SELECT c."type", c."name", c."createdAt", c."updatedAt", cr."id" IS NULL AS orphan_creator,
           coalesce(m.members, 0) AS members, coalesce(m.distinct_users, 0) AS distinct_users,
           coalesce(m.owners, 0) AS owners, coalesce(m.creator_owners, 0) AS creator_owners,
           coalesce(m.privileged, 0) AS privileged
    FROM "conversations" c
    LEFT JOIN m ON m.cid = c."id"
    LEFT JOIN "users" cr ON cr."id" = c."creatorId"
),
mem AS (
    SELECT coalesce(sum(members), 0)::float8                    AS memberships,
           coalesce(sum(members - distinct_users), 0)::float8   AS memberships_duplicate,
           coalesce(sum(orphan_user), 0)::float8                AS orphan_conversation_users_user,
           coalesce(sum(orphan_conversation), 0)::float8        AS orphan_conversation_users_conversation,
           coalesce(sum(joined_before_conversation), 0)::float8 AS memberships_joined_before_conversation,
           coalesce(sum(created_after_updated), 0)::float8      AS conversation_users_created_after_updated
    FROM m
),
agg AS (
SELECT
    count(*)::float8                                                           AS conversations,
    count(*) FILTER (WHERE orphan_creator)::float8                             AS orphan_conversations_creator,
    count(*) FILTER (WHERE "type" = 'DIRECT_MESSAGE'
        AND (members <> 2 OR distinct_users <> 2 OR "name" IS NOT NULL OR privileged <> 0))::float8
                                                                               AS direct_not_two_members,
    count(*) FILTER (WHERE "type" <> 'DIRECT_MESSAGE'
        AND ("name" IS NULL OR owners <> 1 OR creator_owners <> 1))::float8    AS groups_without_name_or_one_owner,
    count(*) FILTER (WHERE "createdAt" < w.start_at OR "createdAt" > w.end_at)::float8
                                                                               AS conversations_outside_window,
    count(*) FILTER (WHERE "createdAt" > "updatedAt")::float8                  AS conversations_created_after_updated,
    count(*) FILTER (WHERE "type" = 'DIRECT_MESSAGE')::float8                  AS class_direct,
    count(*) FILTER (WHERE "type" <> 'DIRECT_MESSAGE' AND members BETWEEN 3 AND 20)::float8
                                                                               AS class_small_group,
    count(*) FILTER (WHERE "type" <> 'DIRECT_MESSAGE' AND members >= 21)::float8 AS class_large_group,
    ARRAY[count(*) FILTER (WHERE members <= 1),
          count(*) FILTER (WHERE members = 2),
          count(*) FILTER (WHERE members BETWEEN 3 AND 5),
          count(*) FILTER (WHERE members BETWEEN 6 AND 10),
          count(*) FILTER (WHERE members BETWEEN 11 AND 20),
          count(*) FILTER (WHERE members BETWEEN 21 AND 50),
          count(*) FILTER (WHERE members BETWEEN 51 AND 100),
          count(*) FILTER (WHERE members BETWEEN 101 AND 256),
          count(*) FILTER (WHERE members > 256)]::int8[]                       AS hist_conversation_sizes
FROM conv CROSS JOIN w
)
SELECT mem.*, agg.* FROM mem CROSS JOIN agg
