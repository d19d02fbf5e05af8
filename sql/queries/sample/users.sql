-- Parameter sampling for `chatsynth explain`: the heavy user (active member of
-- the most conversations) and the typical user (count nearest the median).
WITH counts AS (
    SELECT cu."userId" AS id, count(*) AS n
    FROM "conversation_users" AS cu
    WHERE cu."isActive" = true
    GROUP BY cu."userId"
), median AS (
    SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY n) AS n FROM counts
)
(SELECT 'heavy' AS "case", c.id, c.n FROM counts AS c ORDER BY c.n DESC, c.id LIMIT 1)
UNION ALL
(SELECT 'typical', c.id, c.n FROM counts AS c, median ORDER BY abs(c.n - median.n), c.id LIMIT 1)
