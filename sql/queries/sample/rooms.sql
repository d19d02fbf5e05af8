-- Parameter sampling for `chatsynth explain`: the heavy room (most messages)
-- and the typical room (message count nearest the median), among
-- conversations that have messages and at least one active member.
WITH counts AS (
    SELECT m."conversationId" AS id, count(*) AS n
    FROM "messages" AS m
    GROUP BY m."conversationId"
), eligible AS (
    SELECT counts.id, counts.n
    FROM counts
    WHERE EXISTS (SELECT 1
                  FROM "conversation_users" AS cu
                  WHERE cu."conversationId" = counts.id
                    AND cu."isActive" = true)
), median AS (
    SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY n) AS n FROM eligible
)
(SELECT 'heavy' AS "case", e.id, e.n FROM eligible AS e ORDER BY e.n DESC, e.id LIMIT 1)
UNION ALL
(SELECT 'typical', e.id, e.n FROM eligible AS e, median ORDER BY abs(e.n - median.n), e.id LIMIT 1)
