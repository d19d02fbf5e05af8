-- validate: message_reads (one scan, joined to its message) and the members'
-- "lastReadAt"/"lastReadMessageId", which must agree with the reads: lastReadAt is
-- the createdAt of the latest message of that conversation the member has read
-- (NULL when none), lastReadMessageId is that message, a read row exists for it,
-- and it is not after the conversation's lastMessageAt.
-- $1 receipts room-size limit (members), $2 window end (Unix ms).
--
-- The reads are joined to messages once and aggregated per (reader, room) in the
-- same pass; the membership checks then join those groups, one per membership,
-- instead of looking up each member's last-read message and read row by index
-- (random reads once messages outgrow memory). Sorts are off: the planner
-- cannot tell that (reader, room) pairs are few (about one per membership), so
-- it expects a group per read and sorts every read instead of hashing the
-- groups (docs/scale.md, "validate at 20M").
-- set: enable_sort = off
WITH w AS (
    SELECT to_timestamp(($2::int8)::float8 / 1000) AT TIME ZONE 'UTC' AS end_at
),
msg AS (
    -- each message with its room and that room's size class; OFFSET 0 keeps this
    -- join of messages to the rooms apart from the reads' join below
    SELECT m."id", m."conversationId" AS cid, m."createdAt", m."senderId",
           coalesce(sz.members <= $1, false) AS small
    FROM "messages" m
    LEFT JOIN (SELECT "conversationId" AS cid, count(*) AS members
               FROM "conversation_users" GROUP BY 1) sz ON sz.cid = m."conversationId"
    OFFSET 0
),
mem AS (
    -- the message each (member, room) last read; one row per pair, so that a
    -- duplicate membership (which conversations.sql counts) cannot multiply
    -- the reads joined to it
    SELECT "userId" AS uid, "conversationId" AS cid, min("lastReadMessageId") AS last_id
    FROM "conversation_users" GROUP BY 1, 2
),
g AS (
    SELECT r."userId" AS uid, m.cid,
           count(*)                                                           AS reads,
           count(*) FILTER (WHERE m."id" IS NULL)                             AS orphan_message,
           count(*) FILTER (WHERE u."id" IS NULL)                             AS orphan_user,
           count(*) FILTER (WHERE r."createdAt" > r."updatedAt")              AS created_after_updated,
           count(*) FILTER (WHERE r."readAt" < m."createdAt" OR r."readAt" > w.end_at)
                                                                              AS outside_message_and_window,
           count(*) FILTER (WHERE r."userId" = m."senderId")                  AS by_sender,
           count(*) FILTER (WHERE m.small AND r."userId" <> m."senderId")     AS small_room,
           count(*) FILTER (WHERE r."readAt" - m."createdAt" <= interval '30 seconds')
                                                                              AS within_30s,
           count(*) FILTER (WHERE m."createdAt" IS NOT NULL)                  AS with_message,
           max(m."createdAt")                                                 AS at,
           max(m."createdAt") FILTER (WHERE r."messageId" = mem.last_id)      AS last_id_at
    FROM "message_reads" r
    CROSS JOIN w
    LEFT JOIN msg m ON m."id" = r."messageId"
    LEFT JOIN "users" u ON u."id" = r."userId"
    LEFT JOIN mem ON mem.uid = r."userId" AND mem.cid = m.cid
    GROUP BY 1, 2
),
stats AS (
    SELECT coalesce(sum(reads), 0)::float8                      AS reads,
           coalesce(sum(orphan_message), 0)::float8             AS orphan_message_reads_message,
           coalesce(sum(orphan_user), 0)::float8                AS orphan_message_reads_user,
           coalesce(sum(created_after_updated), 0)::float8      AS message_reads_created_after_updated,
           coalesce(sum(outside_message_and_window), 0)::float8 AS reads_outside_message_and_window,
           coalesce(sum(by_sender), 0)::float8                  AS reads_by_sender,
           coalesce(sum(small_room), 0)::float8                 AS small_room_reads,
           coalesce(sum(within_30s), 0)::float8                 AS reads_within_30s,
           coalesce(sum(with_message), 0)::float8               AS reads_with_message
    FROM g
),
lr AS (
    SELECT
        count(*) FILTER (WHERE cu."id" IS NULL)::float8                     AS reads_by_non_member,
        count(*) FILTER (WHERE cu."id" IS NOT NULL AND (
               (cu."lastReadAt" IS NULL) <> (cu."lastReadMessageId" IS NULL)
            OR cu."lastReadAt" IS DISTINCT FROM l.at))::float8              AS last_read_at_disagrees_with_reads,
        -- valid: a read of that message by this member exists in this room's
        -- group (so the message exists and is in this room), and its createdAt
        -- is the member's lastReadAt
        count(*) FILTER (WHERE cu."lastReadMessageId" IS NOT NULL AND (
               l.last_id_at IS NULL
            OR l.last_id_at IS DISTINCT FROM cu."lastReadAt"))::float8      AS last_read_message_invalid,
        count(*) FILTER (WHERE cu."lastReadAt" > c."lastMessageAt"
                            OR (cu."lastReadAt" IS NOT NULL AND c."lastMessageAt" IS NULL))::float8
                                                                            AS last_read_after_last_message
    FROM "conversation_users" cu
    FULL JOIN (SELECT * FROM g WHERE cid IS NOT NULL) l
           ON l.uid = cu."userId" AND l.cid = cu."conversationId"
    LEFT JOIN "conversations" c ON c."id" = cu."conversationId"
)
SELECT stats.*, lr.* FROM stats CROSS JOIN lr
