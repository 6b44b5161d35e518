-- Supervisors' actions (SQLite): who did what, to what, when, and whether it was carried
-- out. migrations/postgres/0003_audit.sql is the same in PostgreSQL.

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    detail  TEXT NOT NULL, -- JSON
    outcome TEXT NOT NULL  -- `done`, or why it was refused
);
CREATE INDEX audit_by_time ON audit (at);
