-- Catalog facts (used by `chatsynth explain`): estimated rows of the chat tables in
-- schema $1 (reltuples; -1 when never analyzed) and their indexes.
SELECT c.relname::text AS table_name,
       c.reltuples::bigint AS est_rows,
       COALESCE((SELECT array_agg(i.relname::text ORDER BY i.relname)
                 FROM pg_index AS x
                 JOIN pg_class AS i ON i.oid = x.indexrelid
                 WHERE x.indrelid = c.oid), ARRAY[]::text[]) AS indexes
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = $1
  AND c.relkind IN ('r', 'p')
  AND c.relname = ANY ($2::text[])
ORDER BY c.relname
