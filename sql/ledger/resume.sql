-- A resumed run is RUNNING again under its own run id.
UPDATE "chatsynth_runs"
SET "status" = 'RUNNING', "finished_at" = NULL, "error" = NULL
WHERE "run_id" = $1
