-- What the connected role may do: create schemas in this database, create in the
-- target schema (when it exists), and own (so replace) each existing chat table.
SELECT 'database' AS what, current_database()::text AS name,
       has_database_privilege(current_database(), 'CREATE') AS ok
UNION ALL
SELECT 'schema', n.nspname::text, has_schema_privilege(n.oid, 'CREATE')
FROM pg_namespace n WHERE n.nspname = $1
UNION ALL
SELECT 'table', c.relname::text, pg_has_role(c.relowner, 'USAGE')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relname = ANY($2) AND c.relkind IN ('r', 'p')
