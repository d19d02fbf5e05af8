-- clean: how many messages survive (sender and conversation both stay), and
-- how many there are. Two hash anti joins over one scan of messages. The
-- clean keeps the survivors and truncates when they are the minority, and
-- deletes the doomed rows otherwise.
SELECT count(*) FILTER (WHERE s."id" IS NULL AND c."id" IS NULL) AS kept,
       count(*) AS total
FROM "messages" m
LEFT JOIN cs_syn_users s ON s."id" = m."senderId"
LEFT JOIN cs_doomed_conversations c ON c."id" = m."conversationId"
