-- Users and their login tokens (SQLite). migrations/postgres/0004_users.sql is the same in
-- the other dialect. Passwords are argon2id PHC strings; tokens are kept only as their
-- hex SHA-256. Users from the configuration are marked `config`: kefu rewrites them at
-- every start and removes those no longer configured.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent')),
    password_hash TEXT NOT NULL,
    queues        TEXT,          -- JSON list; NULL: every queue
    source        TEXT NOT NULL  -- `config`, or `api` for users an admin created
);

CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX sessions_by_user ON sessions (user_id);
