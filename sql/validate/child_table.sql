-- A declared child table ({table}, off {parent} through {parent_col}): its
-- rows, its parents, rows whose parent or actor is missing, rows before
-- their parent, and rows beyond the first of each unique key ({key}).
-- The braces are replaced with quoted identifiers (validate::children).
SELECT (SELECT count(*) FROM {table})::int8 AS rows,
       (SELECT count(*) FROM {parent})::int8 AS parents,
       (SELECT count(*) FROM {table} c
         WHERE NOT EXISTS (SELECT 1 FROM {parent} p WHERE p."id" = c.{parent_col}))::int8 AS parent_orphans,
       (SELECT count(*) FROM {table} c WHERE {actor_orphan})::int8 AS actor_orphans,
       (SELECT count(*) FROM {table} c JOIN {parent} p ON p."id" = c.{parent_col}
         WHERE {before_parent})::int8 AS before_parent,
       (SELECT coalesce(sum(n - 1), 0)
          FROM (SELECT count(*) AS n FROM {table} GROUP BY {key}) d
         WHERE n > 1)::int8 AS duplicates
