-- Columns of a declared child table: name, type as format_type prints it,
-- whether the type is an enum, NOT NULL, and whether it has a default.
SELECT a.attname::text,
       format_type(a.atttypid, a.atttypmod),
       t.typtype = 'e',
       a.attnotnull,
       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> ''
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
