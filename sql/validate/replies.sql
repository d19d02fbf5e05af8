-- validate: reply and thread targets (only messages that have one, looked up by id).
-- A reply points at an earlier message of the same conversation; a thread root
-- exists in the same conversation.
SELECT
    count(*) FILTER (WHERE m."replyToId" IS NOT NULL AND r."id" IS NULL)::float8 AS orphan_messages_reply_to,
    count(*) FILTER (WHERE r."id" IS NOT NULL
        AND (r."conversationId" <> m."conversationId" OR r."createdAt" >= m."createdAt"))::float8
                                                                                 AS replies_not_earlier_same_conversation,
    count(*) FILTER (WHERE m."threadId" IS NOT NULL
        AND (t."id" IS NULL OR t."conversationId" <> m."conversationId"))::float8 AS threads_invalid_root
FROM "messages" m
LEFT JOIN "messages" r ON r."id" = m."replyToId"
LEFT JOIN "messages" t ON t."id" = m."threadId"
WHERE m."replyToId" IS NOT NULL OR m."threadId" IS NOT NULL
