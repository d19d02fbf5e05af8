-- clean, first step (both ways): the synthetic users (email starts with the
-- literal 'syn_': starts_with, never LIKE 'syn_%', whose _ matches any
-- character) and the conversations that go with them (created by one), as
-- indexed, analyzed temp tables of ids. Every later statement joins against
-- these: hash joins and anti joins, linear in the rows at any size, never
-- `IN (subquery) OR IN (subquery)` or `NOT IN (subquery)`, which the planner
-- can only run as a rescan per row once the ids outgrow work_mem. Runs in the
-- clean's transaction with search_path pinned to the target schema.
CREATE TEMP TABLE cs_syn_users ON COMMIT DROP AS
    SELECT "id" FROM "users" WHERE starts_with("email", 'syn_');
ALTER TABLE cs_syn_users ADD PRIMARY KEY ("id");
ANALYZE cs_syn_users;
CREATE TEMP TABLE cs_doomed_conversations ON COMMIT DROP AS
    SELECT c."id" FROM "conversations" c JOIN cs_syn_users s ON s."id" = c."creatorId";
ALTER TABLE cs_doomed_conversations ADD PRIMARY KEY ("id");
ANALYZE cs_doomed_conversations;
