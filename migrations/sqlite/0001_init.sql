-- kefu's first schema (SQLite). Times are microseconds since the Unix epoch (UTC);
-- durations are milliseconds. migrations/postgres/0001_init.sql is the same in PostgreSQL.

CREATE TABLE tiers (
    name             TEXT PRIMARY KEY,
    base_priority    INTEGER NOT NULL,
    sla_threshold_ms INTEGER NOT NULL,
    sla_target       REAL NOT NULL
);

CREATE TABLE skills (
    name TEXT PRIMARY KEY
);

CREATE TABLE queues (
    name             TEXT PRIMARY KEY,
    strategy         TEXT NOT NULL,
    priority         INTEGER NOT NULL,
    max_wait_ms      INTEGER NOT NULL,
    short_abandon_ms INTEGER NOT NULL,
    overflow         TEXT NOT NULL -- JSON
);

CREATE TABLE agents (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    dial_string TEXT NOT NULL
);

CREATE TABLE agent_skills (
    agent       TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    skill       TEXT NOT NULL REFERENCES skills (name),
    proficiency INTEGER NOT NULL CHECK (proficiency BETWEEN 1 AND 10),
    PRIMARY KEY (agent, skill)
);

CREATE TABLE customers (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL,
    phone           TEXT NOT NULL UNIQUE,
    account_number  TEXT NOT NULL UNIQUE,
    tier            TEXT NOT NULL REFERENCES tiers (name),
    account_manager TEXT REFERENCES agents (id)
);

CREATE TABLE calls (
    call_id          TEXT PRIMARY KEY,
    node             TEXT NOT NULL,
    caller_number    TEXT NOT NULL,
    destination      TEXT NOT NULL,
    customer_id      INTEGER REFERENCES customers (id),
    tier             TEXT NOT NULL,
    queue            TEXT,
    agent            TEXT,
    outcome          TEXT NOT NULL,
    arrived_at       INTEGER NOT NULL,
    enqueued_at      INTEGER,
    answered_at      INTEGER,
    talk_ended_at    INTEGER,
    ended_at         INTEGER NOT NULL,
    wrap_up_ended_at INTEGER,
    wait_ms          INTEGER,
    ivr_ms           INTEGER NOT NULL,
    talk_ms          INTEGER,
    acw_ms           INTEGER,
    sla_met          BOOLEAN,
    short_abandon    BOOLEAN NOT NULL,
    hangup_cause     TEXT NOT NULL,
    offers           INTEGER NOT NULL,
    ivr_path         TEXT NOT NULL, -- JSON
    category         TEXT,
    resolved         BOOLEAN,
    notes            TEXT,
    survey_score     INTEGER
);
CREATE INDEX calls_by_end ON calls (ended_at);
CREATE INDEX calls_by_customer ON calls (customer_id, arrived_at);
CREATE INDEX calls_by_queue ON calls (queue, ended_at);

CREATE TABLE call_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    at      INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    detail  TEXT NOT NULL -- JSON
);
CREATE INDEX call_events_by_call ON call_events (call_id, at);
