-- validate: message_reads (one scan, joined to its message) and the members'
-- "lastReadAt"/"lastReadMessageId", which must agree with the reads: lastReadAt is
-- the createdAt of the latest message of that conversation the member has read
-- (NULL when none), lastReadMessageId is that message, a read row exists for it,
-- and it is not after the conversation's lastMessageAt.
-- $1 receipts room-size limit (members), $2 window end (Unix ms).
WITH w AS (
    SELECT to_timestamp(($2::int8)::float8 / 1000) AT TIME ZONE 'UTC' AS end_at
),
sizes AS (
    SELECT "conversationId" AS cid, count(*) AS members FROM "conversation_users" GROUP BY 1
),
r AS (
    SELECT r."userId" AS uid, r."readAt", r."createdAt", r."updatedAt",
           m."conversationId" AS cid, m."createdAt" AS msg_at, m."senderId",
           m."id" IS NULL AS orphan_message, u."id" IS NULL AS orphan_user
    FROM "message_reads" r
    LEFT JOIN "messages" m ON m."id" = r."messageId"
    LEFT JOIN "users" u ON u."id" = r."userId"
),
last_read AS (
    SELECT uid, cid, max(msg_at) AS at FROM r WHERE cid IS NOT NULL GROUP BY 1, 2
),
stats AS (
    SELECT count(*)::float8                                                  AS reads,
           count(*) FILTER (WHERE orphan_message)::float8                    AS orphan_message_reads_message,
           count(*) FILTER (WHERE orphan_user)::float8                       AS orphan_message_reads_user,
           count(*) FILTER (WHERE r."createdAt" > r."updatedAt")::float8     AS message_reads_created_after_updated,
           count(*) FILTER (WHERE "readAt" < msg_at OR "readAt" > w.end_at)::float8
                                                                             AS reads_outside_message_and_window,
           count(*) FILTER (WHERE uid = "senderId")::float8                  AS reads_by_sender,
           count(*) FILTER (WHERE sz.members <= $1 AND uid <> "senderId")::float8
                                                                             AS small_room_reads,
           count(*) FILTER (WHERE "readAt" - msg_at <= interval '30 seconds')::float8
                                                                             AS reads_within_30s,
           count(*) FILTER (WHERE msg_at IS NOT NULL)::float8                AS reads_with_message
    FROM r CROSS JOIN w LEFT JOIN sizes sz ON sz.cid = r.cid
),
lr AS (
    SELECT
        count(*) FILTER (WHERE cu."id" IS NULL)::float8                     AS reads_by_non_member,
        count(*) FILTER (WHERE cu."id" IS NOT NULL AND (
               (cu."lastReadAt" IS NULL) <> (cu."lastReadMessageId" IS NULL)
            OR cu."lastReadAt" IS DISTINCT FROM l.at))::float8              AS last_read_at_disagrees_with_reads,
        count(*) FILTER (WHERE cu."lastReadMessageId" IS NOT NULL AND (
               lm."id" IS NULL
            OR lm."conversationId" <> cu."conversationId"
            OR lm."createdAt" IS DISTINCT FROM cu."lastReadAt"
            OR NOT EXISTS (SELECT 1 FROM "message_reads" x
                           WHERE x."userId" = cu."userId" AND x."messageId" = cu."lastReadMessageId")))::float8
                                                                            AS last_read_message_invalid,
        count(*) FILTER (WHERE cu."lastReadAt" > c."lastMessageAt"
                            OR (cu."lastReadAt" IS NOT NULL AND c."lastMessageAt" IS NULL))::float8
                                                                            AS last_read_after_last_message
    FROM "conversation_users" cu
    FULL JOIN last_read l ON l.uid = cu."userId" AND l.cid = cu."conversationId"
    LEFT JOIN "messages" lm ON lm."id" = cu."lastReadMessageId"
    LEFT JOIN "conversations" c ON c."id" = cu."conversationId"
)
SELECT stats.*, lr.* FROM stats CROSS JOIN lr
