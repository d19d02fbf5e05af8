UPDATE "chatsynth_runs" SET "progress" = $2::text::jsonb WHERE "run_id" = $1
