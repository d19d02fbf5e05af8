-- validate: one scan of "messages", hash-joined to its sender, conversation and the
-- sender's membership (integrity), with the message-level shape aggregated alongside.
-- $1 window start (Unix ms), $2 window end (Unix ms).
WITH w AS (
    SELECT to_timestamp(($1::int8)::float8 / 1000) AT TIME ZONE 'UTC' AS start_at,
           to_timestamp(($2::int8)::float8 / 1000) AT TIME ZONE 'UTC' AS end_at
)
SELECT
    count(*)::float8                                                            AS messages,
    count(*) FILTER (WHERE s."id" IS NULL)::float8                              AS orphan_messages_sender,
    count(*) FILTER (WHERE c."id" IS NULL)::float8                              AS orphan_messages_conversation,
    count(*) FILTER (WHERE c."id" IS NOT NULL AND cu."id" IS NULL)::float8      AS messages_sender_not_member,
    -- "joined before the message": joinedAt <= createdAt (the same millisecond is allowed)
    count(*) FILTER (WHERE cu."joinedAt" > m."createdAt")::float8               AS messages_sender_joined_after,
    count(*) FILTER (WHERE m."createdAt" < c."createdAt")::float8               AS messages_before_conversation,
    count(*) FILTER (WHERE m."createdAt" < w.start_at OR m."createdAt" > w.end_at)::float8
                                                                                AS messages_outside_window,
    count(*) FILTER (WHERE m."createdAt" > m."updatedAt")::float8               AS messages_created_after_updated,
    -- COLLATE "C": byte order is enough to count distinct keys, and lets the sort
    -- use abbreviated keys and memcmp (half the time at 2M messages)
    (count(*) - count(DISTINCT m."idempotencyKey" COLLATE "C"))::float8         AS messages_duplicate_idempotency_key,
    count(*) FILTER (WHERE
           m."isDeleted" <> (m."deletedAt" IS NOT NULL)
        OR m."isEdited" <> (m."editedAt" IS NOT NULL)
        OR (m."isDeleted" AND (m."status" <> 'DELETED' OR m."content" IS NOT NULL))
        OR (NOT m."isDeleted" AND m."status" = 'DELETED')
        OR m."editedAt" <= m."createdAt"
        OR m."deletedAt" < m."createdAt")::float8                               AS messages_flags_inconsistent,
    -- shape
    count(*) FILTER (WHERE m."type" = 'TEXT' AND m."content" IS NOT NULL)::float8 AS text_messages,
    (percentile_cont(0.5) WITHIN GROUP (ORDER BY char_length(m."content"))
        FILTER (WHERE m."type" = 'TEXT' AND m."content" IS NOT NULL))::float8    AS text_len_median,
    (avg(char_length(m."content")) FILTER (WHERE m."type" = 'TEXT' AND m."content" IS NOT NULL))::float8
                                                                                AS text_len_mean,
    count(*) FILTER (WHERE m."type" <> 'TEXT')::float8                          AS non_text_messages,
    -- messages without attachments (TEXT, SYSTEM, LOCATION): the generator draws
    -- SYSTEM (in groups) and LOCATION only among these
    count(*) FILTER (WHERE m."type" IN ('TEXT', 'SYSTEM', 'LOCATION'))::float8   AS plain_messages,
    count(*) FILTER (WHERE m."type" = 'LOCATION')::float8                       AS location_messages,
    count(*) FILTER (WHERE c."type" <> 'DIRECT_MESSAGE'
                        AND m."type" IN ('TEXT', 'SYSTEM', 'LOCATION'))::float8 AS group_plain_messages,
    count(*) FILTER (WHERE c."type" <> 'DIRECT_MESSAGE')::float8                AS group_messages,
    count(*) FILTER (WHERE c."type" <> 'DIRECT_MESSAGE' AND m."type" = 'SYSTEM')::float8
                                                                                AS group_system_messages,
    count(*) FILTER (WHERE c."type" <> 'DIRECT_MESSAGE' AND m."replyToId" IS NOT NULL)::float8
                                                                                AS group_reply_messages,
    -- edits apply to live TEXT messages only
    count(*) FILTER (WHERE m."type" = 'TEXT' AND NOT m."isDeleted")::float8     AS live_text_messages,
    count(*) FILTER (WHERE m."isEdited")::float8                                AS edited_messages,
    count(*) FILTER (WHERE m."isDeleted")::float8                               AS deleted_messages
FROM "messages" m
CROSS JOIN w
LEFT JOIN "users" s ON s."id" = m."senderId"
LEFT JOIN "conversations" c ON c."id" = m."conversationId"
LEFT JOIN "conversation_users" cu
       ON cu."conversationId" = m."conversationId" AND cu."userId" = m."senderId"
