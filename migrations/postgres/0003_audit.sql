-- Supervisors' actions (PostgreSQL): who did what, to what, when, and whether it was
-- carried out. migrations/sqlite/0003_audit.sql is the same in SQLite.

CREATE TABLE audit (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    detail  TEXT NOT NULL, -- JSON
    outcome TEXT NOT NULL  -- `done`, or why it was refused
);
CREATE INDEX audit_by_time ON audit (at);
