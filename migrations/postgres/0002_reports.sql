-- Reports (PostgreSQL). `agent_states`: one row per stretch of time one agent spent in one
-- state, written when it ends; occupancy is computed from them.
-- migrations/sqlite/0002_reports.sql is the same in SQLite.

CREATE TABLE agent_states (
    agent      TEXT NOT NULL,
    state      TEXT NOT NULL,
    reason     TEXT,
    started_at BIGINT NOT NULL,
    ended_at   BIGINT NOT NULL,
    PRIMARY KEY (agent, started_at)
);
CREATE INDEX agent_states_by_end ON agent_states (ended_at);

-- The queue report counts calls in the interval they entered the queue; the agent report in
-- the interval they were answered.
CREATE INDEX calls_by_enqueue ON calls (enqueued_at);
CREATE INDEX calls_by_answer ON calls (answered_at);
