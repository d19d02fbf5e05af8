-- Foreign keys of the chatsynth tables, as definitions relative to the search_path.
SELECT c.relname::text,
       con.conname::text,
       pg_get_constraintdef(con.oid)
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype = 'f'
  AND n.nspname = $1
  AND c.relname = ANY($2)
ORDER BY c.relname, con.conname
