-- Single-column foreign keys of a declared child table: its column, the
-- referenced table (in the same schema) and column.
SELECT a.attname::text, ref.relname::text, fa.attname::text
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class ref ON ref.oid = con.confrelid
JOIN pg_namespace rn ON rn.oid = ref.relnamespace
JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = con.confkey[1]
WHERE con.contype = 'f' AND cardinality(con.conkey) = 1
  AND n.nspname = $1 AND c.relname = $2 AND rn.nspname = $1
ORDER BY 1
