-- validate: attachments (one scan) and how they sit on messages. A media message
-- (IMAGE, VIDEO, FILE, AUDIO) carries an attachment of its own type (the type of
-- its first attachment, DOCUMENT -> FILE); TEXT, SYSTEM and LOCATION carry none.
--
-- The attachments are grouped per message first, then the groups and the
-- messages meet in one full join: one scan of each table, and the hash holds
-- groups of attachments, not messages. A group whose message is missing is
-- orphaned; the group of attachments without a message (messageId NULL) is not.
WITH per_msg AS (
    SELECT a."messageId", count(*) AS n,
           count(*) FILTER (WHERE u."id" IS NULL)              AS orphan_uploader,
           count(*) FILTER (WHERE a."createdAt" > a."updatedAt") AS created_after_updated,
           count(*) FILTER (WHERE a."type" = 'IMAGE')          AS image,
           count(*) FILTER (WHERE a."type" = 'VIDEO')          AS video,
           count(*) FILTER (WHERE a."type" = 'DOCUMENT')       AS document,
           count(*) FILTER (WHERE a."type" = 'AUDIO')          AS audio
    FROM "attachments" a
    LEFT JOIN "users" u ON u."id" = a."uploaderId"
    GROUP BY 1
),
j AS (
    SELECT p.*, m."type" AS message_type, m."id" IS NOT NULL AS has_message
    FROM per_msg p
    FULL JOIN "messages" m ON m."id" = p."messageId"
)
SELECT coalesce(sum(n), 0)::float8                                      AS attachments,
       coalesce(sum(n) FILTER (WHERE "messageId" IS NOT NULL AND NOT has_message), 0)::float8
                                                                        AS orphan_attachments_message,
       coalesce(sum(orphan_uploader), 0)::float8                        AS orphan_attachments_uploader,
       coalesce(sum(created_after_updated), 0)::float8                  AS attachments_created_after_updated,
       coalesce(sum(image), 0)::float8                                  AS attachments_image,
       coalesce(sum(video), 0)::float8                                  AS attachments_video,
       coalesce(sum(document), 0)::float8                               AS attachments_document,
       coalesce(sum(audio), 0)::float8                                  AS attachments_audio,
       count(*) FILTER (WHERE has_message AND n = 1)::float8            AS messages_one_attachment,
       count(*) FILTER (WHERE has_message AND n > 1)::float8            AS messages_several_attachments,
       count(*) FILTER (WHERE has_message AND CASE message_type
            WHEN 'IMAGE' THEN coalesce(image, 0) = 0
            WHEN 'VIDEO' THEN coalesce(video, 0) = 0
            WHEN 'FILE'  THEN coalesce(document, 0) = 0
            WHEN 'AUDIO' THEN coalesce(audio, 0) = 0
            ELSE n IS NOT NULL END)::float8                             AS messages_type_disagrees_with_attachments
FROM j
