-- chatsynth's run ledger, in the target schema: one row per load or refresh.
-- COMPLETED is written in the same transaction as the swap that makes the data live.
CREATE TABLE IF NOT EXISTS "chatsynth_runs" (
    "run_id" TEXT PRIMARY KEY,
    "command" TEXT NOT NULL,
    "band" TEXT NOT NULL,
    "seed" BIGINT NOT NULL,
    "config_digest" TEXT NOT NULL,
    "started_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMP(3),
    "status" TEXT NOT NULL CHECK ("status" IN ('RUNNING', 'COMPLETED', 'FAILED')),
    "rows_per_table" JSONB,
    "error" TEXT
)
;
-- Per table: rows skipped (already committed by the run resumed) and rows written.
ALTER TABLE "chatsynth_runs" ADD COLUMN IF NOT EXISTS "progress" JSONB
