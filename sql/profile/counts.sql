-- profile: exact row counts of the tables that are never sampled.
SELECT (SELECT count(*) FROM "users")              AS users,
       (SELECT count(*) FROM "conversations")      AS conversations,
       (SELECT count(*) FROM "conversation_users") AS conversation_users
