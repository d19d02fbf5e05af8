-- Runs still RUNNING while we hold the schema's lock were killed: mark them.
UPDATE "chatsynth_runs"
SET "status" = 'FAILED', "finished_at" = CURRENT_TIMESTAMP,
    "error" = 'abandoned: the run ended without finishing (killed or lost its connection)'
WHERE "status" = 'RUNNING'
