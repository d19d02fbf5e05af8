-- profile: the planner's row estimate for each table of the target schema
-- (pg_class.reltuples, or the size on disk at ~200 bytes a row when the table
-- was never analysed), to choose a default sample. Catalog only.
-- $1 schema name.
SELECT c.relname::text AS name,
       CASE WHEN c.reltuples >= 0 THEN c.reltuples::float8
            ELSE pg_relation_size(c.oid)::float8 / 200 END AS estimate
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')
