UPDATE "chatsynth_runs"
SET "status" = $2, "finished_at" = CURRENT_TIMESTAMP, "rows_per_table" = $3::text::jsonb, "error" = $4
WHERE "run_id" = $1
