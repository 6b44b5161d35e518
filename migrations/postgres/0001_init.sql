-- kefu's first schema (PostgreSQL). Times are microseconds since the Unix epoch (UTC);
-- durations are milliseconds. migrations/sqlite/0001_init.sql is the same in SQLite.

CREATE TABLE tiers (
    name             TEXT PRIMARY KEY,
    base_priority    BIGINT NOT NULL,
    sla_threshold_ms BIGINT NOT NULL,
    sla_target       DOUBLE PRECISION NOT NULL
);

CREATE TABLE skills (
    name TEXT PRIMARY KEY
);

CREATE TABLE queues (
    name             TEXT PRIMARY KEY,
    strategy         TEXT NOT NULL,
    priority         BIGINT NOT NULL,
    max_wait_ms      BIGINT NOT NULL,
    short_abandon_ms BIGINT NOT NULL,
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
    proficiency BIGINT NOT NULL CHECK (proficiency BETWEEN 1 AND 10),
    PRIMARY KEY (agent, skill)
);

CREATE TABLE customers (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    customer_id      BIGINT REFERENCES customers (id),
    tier             TEXT NOT NULL,
    queue            TEXT,
    agent            TEXT,
    outcome          TEXT NOT NULL,
    arrived_at       BIGINT NOT NULL,
    enqueued_at      BIGINT,
    answered_at      BIGINT,
    talk_ended_at    BIGINT,
    ended_at         BIGINT NOT NULL,
    wrap_up_ended_at BIGINT,
    wait_ms          BIGINT,
    ivr_ms           BIGINT NOT NULL,
    talk_ms          BIGINT,
    acw_ms           BIGINT,
    sla_met          BOOLEAN,
    short_abandon    BOOLEAN NOT NULL,
    hangup_cause     TEXT NOT NULL,
    offers           BIGINT NOT NULL,
    ivr_path         TEXT NOT NULL, -- JSON
    category         TEXT,
    resolved         BOOLEAN,
    notes            TEXT,
    survey_score     BIGINT
);
CREATE INDEX calls_by_end ON calls (ended_at);
CREATE INDEX calls_by_customer ON calls (customer_id, arrived_at);
CREATE INDEX calls_by_queue ON calls (queue, ended_at);

CREATE TABLE call_events (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
    at      BIGINT NOT NULL,
    kind    TEXT NOT NULL,
    detail  TEXT NOT NULL -- JSON
);
CREATE INDEX call_events_by_call ON call_events (call_id, at);
