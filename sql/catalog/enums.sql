-- Enum types visible from the target schema (its own, then public) and their labels.
SELECT t.typname::text, e.enumlabel::text
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_enum e ON e.enumtypid = t.oid
WHERE t.typtype = 'e'
  AND n.nspname IN ($1, 'public')
ORDER BY t.typname, e.enumsortorder
