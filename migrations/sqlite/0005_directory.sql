-- Agents, queues and skills an admin adds through the REST API (SQLite).
-- migrations/postgres/0005_directory.sql is the same in the other dialect.
-- Rows from the configuration file are marked `config` and rewritten at every start; rows
-- an admin made are marked `api` and keep their whole definition in `spec` (JSON, the
-- shape of a kefu.toml entry; an agent's password only as its argon2id hash), which kefu
-- reads back at start.

ALTER TABLE agents ADD COLUMN source TEXT NOT NULL DEFAULT 'config';
ALTER TABLE agents ADD COLUMN spec TEXT;
ALTER TABLE queues ADD COLUMN source TEXT NOT NULL DEFAULT 'config';
ALTER TABLE queues ADD COLUMN spec TEXT;
ALTER TABLE skills ADD COLUMN source TEXT NOT NULL DEFAULT 'config';
