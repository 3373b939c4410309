-- The job archive: one row per finished AgentJob, by its UID.
CREATE TABLE IF NOT EXISTS devagents_jobs (
    uid              text PRIMARY KEY,
    namespace        text        NOT NULL,
    name             text        NOT NULL,
    agent            text        NOT NULL,
    requester        text,
    priority         integer     NOT NULL,
    phase            text        NOT NULL,
    reason           text,
    attempts         integer     NOT NULL,
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    completed_at     timestamptz NOT NULL,
    duration_seconds double precision,
    llm_requests     bigint      NOT NULL DEFAULT 0,
    input_tokens     bigint      NOT NULL DEFAULT 0,
    output_tokens    bigint      NOT NULL DEFAULT 0,
    cost_usd         double precision NOT NULL DEFAULT 0,
    summary          text,
    data             jsonb,
    actions          jsonb       NOT NULL DEFAULT '[]',
    refs             jsonb       NOT NULL DEFAULT '{}',
    archived_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS devagents_jobs_completed ON devagents_jobs (completed_at);
CREATE INDEX IF NOT EXISTS devagents_jobs_agent_ns ON devagents_jobs (agent, namespace, completed_at);
