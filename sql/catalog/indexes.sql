-- Indexes of the chatsynth tables, with the constraint each one backs (p, u or NULL).
SELECT c.relname::text,
       i.relname::text,
       pg_get_indexdef(x.indexrelid),
       con.contype
FROM pg_index x
JOIN pg_class c ON c.oid = x.indrelid
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid
                            AND con.conrelid = x.indrelid
                            AND con.contype IN ('p', 'u')
WHERE n.nspname = $1
  AND c.relname = ANY($2)
ORDER BY pg_relation_size(c.oid) DESC, c.relname, i.relname
