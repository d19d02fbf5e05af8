-- Sessions other than ours that hold or wait for a lock on a relation of the
-- staging schema $1, and that we may signal. Under the schema's advisory lock
-- none of them is a live chatsynth run: they are the server-side work of a
-- killed or interrupted run (an index build keeps running after its client is
-- gone) or a session left inside the stage. They are terminated so the stage
-- can be dropped at once instead of waiting for them.
SELECT s.pid, pg_terminate_backend(s.pid)
FROM (
    SELECT DISTINCT l.pid
    FROM pg_locks l
    JOIN pg_class c ON c.oid = l.relation
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE n.nspname = $1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.pid <> pg_backend_pid()
      AND pg_has_role(a.usesysid, 'MEMBER')
) s
