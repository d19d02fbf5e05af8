INSERT INTO "chatsynth_runs" ("run_id", "command", "band", "seed", "config_digest", "status")
VALUES ($1, $2, $3, $4, $5, 'RUNNING')
