-- Every column of every table in a schema, for `chatsynth schema check`:
-- table, column, type as format_type prints it, NOT NULL, the default
-- expression, identity, generated, the type's kind (pg_type.typtype: e = enum)
-- and its name.
SELECT c.relname::text,
       a.attname::text,
       format_type(a.atttypid, a.atttypmod),
       a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid),
       a.attidentity <> '',
       a.attgenerated <> '',
       t.typtype::text,
       t.typname::text
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = $1
  AND c.relkind IN ('r', 'p')
  AND a.attnum > 0
  AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
