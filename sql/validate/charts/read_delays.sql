-- validate --html: read delays (readAt - the message's createdAt) in tenth-decade
-- bins of seconds: bin k holds delays d with floor(10 log10 d) = k (d floored at
-- 1 ms). One scan of "message_reads" hash-joined to "messages".
SELECT floor(10 * log(greatest(extract(epoch FROM r."readAt" - m."createdAt")::float8, 0.001)) + 1e-9)::int AS bin,
       count(*)::int8 AS reads
FROM "message_reads" r
JOIN "messages" m ON m."id" = r."messageId"
GROUP BY 1
ORDER BY 1
