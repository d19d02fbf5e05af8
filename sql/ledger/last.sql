-- The latest run of this schema: the one a --resume may continue.
SELECT "run_id", "status", "config_digest", "seed"
FROM "chatsynth_runs"
ORDER BY "started_at" DESC
LIMIT 1
