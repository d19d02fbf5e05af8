-- Foreign keys from tables that are not chatsynth's into its tables: the swap
-- drops and re-creates them so it can replace the referenced tables.
SELECT con.conrelid::regclass::text, con.conname::text, pg_get_constraintdef(con.oid)
FROM pg_constraint con
JOIN pg_class ref ON ref.oid = con.confrelid
JOIN pg_namespace rn ON rn.oid = ref.relnamespace
JOIN pg_class src ON src.oid = con.conrelid
JOIN pg_namespace sn ON sn.oid = src.relnamespace
WHERE con.contype = 'f'
  AND rn.nspname = $1 AND ref.relname = ANY($2)
  AND NOT (sn.nspname = $1 AND src.relname = ANY($2))
ORDER BY 1, 2
