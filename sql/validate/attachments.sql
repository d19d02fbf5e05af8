-- validate: attachments (one scan) and how they sit on messages. A media message
-- (IMAGE, VIDEO, FILE, AUDIO) carries an attachment of its own type (the type of
-- its first attachment, DOCUMENT -> FILE); TEXT, SYSTEM and LOCATION carry none.
WITH a AS (
    SELECT a."messageId", a."type",
           m."id" IS NULL AND a."messageId" IS NOT NULL AS orphan_message,
           u."id" IS NULL AS orphan_uploader,
           a."createdAt" > a."updatedAt" AS created_after_updated
    FROM "attachments" a
    LEFT JOIN "messages" m ON m."id" = a."messageId"
    LEFT JOIN "users" u ON u."id" = a."uploaderId"
),
per_msg AS (
    SELECT "messageId", count(*) AS n,
           bool_or("type" = 'IMAGE') AS has_image, bool_or("type" = 'VIDEO') AS has_video,
           bool_or("type" = 'DOCUMENT') AS has_document, bool_or("type" = 'AUDIO') AS has_audio
    FROM a WHERE "messageId" IS NOT NULL AND NOT orphan_message
    GROUP BY 1
),
att AS (
    SELECT count(*)::float8                                          AS attachments,
           count(*) FILTER (WHERE orphan_message)::float8            AS orphan_attachments_message,
           count(*) FILTER (WHERE orphan_uploader)::float8           AS orphan_attachments_uploader,
           count(*) FILTER (WHERE created_after_updated)::float8     AS attachments_created_after_updated,
           count(*) FILTER (WHERE "type" = 'IMAGE')::float8          AS attachments_image,
           count(*) FILTER (WHERE "type" = 'VIDEO')::float8          AS attachments_video,
           count(*) FILTER (WHERE "type" = 'DOCUMENT')::float8       AS attachments_document,
           count(*) FILTER (WHERE "type" = 'AUDIO')::float8          AS attachments_audio
    FROM a
),
msg AS (
    SELECT count(*) FILTER (WHERE p.n = 1)::float8                   AS messages_one_attachment,
           count(*) FILTER (WHERE p.n > 1)::float8                   AS messages_several_attachments,
           count(*) FILTER (WHERE CASE m."type"
                WHEN 'IMAGE' THEN NOT coalesce(p.has_image, false)
                WHEN 'VIDEO' THEN NOT coalesce(p.has_video, false)
                WHEN 'FILE'  THEN NOT coalesce(p.has_document, false)
                WHEN 'AUDIO' THEN NOT coalesce(p.has_audio, false)
                ELSE p.n IS NOT NULL END)::float8                     AS messages_type_disagrees_with_attachments
    FROM "messages" m LEFT JOIN per_msg p ON p."messageId" = m."id"
)
SELECT att.*, msg.* FROM att CROSS JOIN msg
