-- Foreign keys from tables that are not chatsynth's into its tables, with their
-- columns in key order: before the swap, the rows those tables hold are checked
-- against the new dataset (sql/catalog/external_fks.sql lists the same keys).
SELECT con.conrelid::regclass::text,
       con.conname::text,
       ref.relname::text,
       ARRAY(SELECT a.attname::text
             FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
             ORDER BY k.ord),
       ARRAY(SELECT a.attname::text
             FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
             ORDER BY k.ord)
FROM pg_constraint con
JOIN pg_class ref ON ref.oid = con.confrelid
JOIN pg_namespace rn ON rn.oid = ref.relnamespace
JOIN pg_class src ON src.oid = con.conrelid
JOIN pg_namespace sn ON sn.oid = src.relnamespace
WHERE con.contype = 'f'
  AND rn.nspname = $1 AND ref.relname = ANY($2)
  AND NOT (sn.nspname = $1 AND src.relname = ANY($2))
ORDER BY 1, 2
