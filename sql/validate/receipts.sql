-- validate: message_receipts (one scan, joined to its message) and the number of
-- (message, recipient) pairs in rooms of at most $1 members: for every message,
-- every member of its conversation except the sender. That is the denominator of
-- the delivered and read shares.
-- $1 receipts room-size limit (members), $2 window end (Unix ms).
--
-- Each message is joined to its room's size before the receipts meet it, so the
-- receipts, the largest table, go through one hash join (against messages) and
-- not a second one against the room sizes. The sizes are NOT MATERIALIZED:
-- inlined where they are used, the planner knows the room ids are distinct
-- and hashes the rooms, not the messages. Nested loops are off: with them the planner probes
-- messages_pkey once per receipt behind a Memoize, which reads messages at
-- random once they outgrow memory (docs/scale.md, "validate at 20M").
-- set: enable_nestloop = off
WITH w AS (
    SELECT to_timestamp(($2::int8)::float8 / 1000) AT TIME ZONE 'UTC' AS end_at
),
sizes AS NOT MATERIALIZED (
    SELECT "conversationId" AS cid, count(*) AS members FROM "conversation_users" GROUP BY 1
),
msg AS (
    -- OFFSET 0 keeps this join apart from the receipts' join below
    SELECT m."id", m."createdAt", m."senderId", coalesce(sz.members <= $1, false) AS small
    FROM "messages" m LEFT JOIN sizes sz ON sz.cid = m."conversationId"
    OFFSET 0
),
pairs AS (
    SELECT coalesce(sum(p.n * (s.members - 1)), 0)::float8 AS receipt_pairs
    FROM (SELECT "conversationId" AS cid, count(*) AS n FROM "messages" GROUP BY 1) p
    JOIN sizes s ON s.cid = p.cid
    WHERE s.members <= $1
),
x AS (
    SELECT count(*)::float8                                                   AS receipts,
           count(*) FILTER (WHERE m."id" IS NULL)::float8                     AS orphan_message_receipts_message,
           count(*) FILTER (WHERE u."id" IS NULL)::float8                     AS orphan_message_receipts_user,
           count(*) FILTER (WHERE x."createdAt" > x."updatedAt")::float8      AS message_receipts_created_after_updated,
           count(*) FILTER (WHERE x."timestamp" < m."createdAt" OR x."timestamp" > w.end_at)::float8
                                                                              AS receipts_outside_message_and_window,
           count(*) FILTER (WHERE x."state" = 'DELIVERED' AND m.small
                               AND x."userId" <> m."senderId")::float8        AS small_room_delivered,
           count(*) FILTER (WHERE x."state" = 'READ')::float8                 AS read_receipts
    FROM "message_receipts" x
    CROSS JOIN w
    LEFT JOIN msg m ON m."id" = x."messageId"
    LEFT JOIN "users" u ON u."id" = x."userId"
)
SELECT pairs.*, x.* FROM pairs CROSS JOIN x
