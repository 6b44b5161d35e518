-- Callbacks not yet made (SQLite): the caller hung up to be called back, so no FreeSWITCH
-- channel holds the call; this row does, until the call's record is written. The engine's
-- whole session is kept as JSON and put back in its queue when kefu starts.
-- migrations/postgres/0006_callbacks.sql is the same in PostgreSQL.

CREATE TABLE callbacks (
    call_id  TEXT PRIMARY KEY,
    session  TEXT NOT NULL, -- JSON: call::Session
    saved_at INTEGER NOT NULL
);
