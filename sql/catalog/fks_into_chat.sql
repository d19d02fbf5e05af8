-- Foreign keys of the other tables of a schema into chatsynth's tables, with
-- whether every referencing column is NOT NULL (for `chatsynth schema check`).
SELECT src.relname::text,
       con.conname::text,
       ref.relname::text,
       ARRAY(SELECT a.attname::text
             FROM unnest(con.conkey) WITH ORDINALITY k(num, ord)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
             ORDER BY k.ord),
       NOT EXISTS (SELECT 1 FROM unnest(con.conkey) k(num)
                   JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
                   WHERE NOT a.attnotnull),
       pg_get_constraintdef(con.oid)
FROM pg_constraint con
JOIN pg_class ref ON ref.oid = con.confrelid
JOIN pg_namespace rn ON rn.oid = ref.relnamespace
JOIN pg_class src ON src.oid = con.conrelid
JOIN pg_namespace sn ON sn.oid = src.relnamespace
WHERE con.contype = 'f'
  AND rn.nspname = $1 AND ref.relname = ANY($2)
  AND sn.nspname = $1 AND NOT src.relname = ANY($2)
ORDER BY 1, 2
