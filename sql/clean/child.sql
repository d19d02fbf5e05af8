-- clean, a declared child table ({table}): its rows that hang off a doomed
-- parent ({doomed} holds the ids of the parents that go) or are by a
-- synthetic user; run in the delete way after the temp tables of doomed ids
-- exist and before the chat tables' own deletes (children first). The braces
-- are replaced with quoted identifiers (clean::child_deletes).
DELETE FROM {table} x USING {doomed} d WHERE x.{parent_col} = d."id";
DELETE FROM {table} x USING cs_syn_users s WHERE x.{actor_col} = s."id";
