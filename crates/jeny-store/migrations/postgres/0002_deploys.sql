-- Deploys: the deploy record (what was asked, what ran, how it ended, who holds it), its output
-- in batched chunks, and environment locks. Settings the deploys need on environments and
-- projects are added to those tables.

ALTER TABLE environments ADD COLUMN deploy_grace_secs BIGINT NOT NULL DEFAULT 10;
ALTER TABLE environments ADD COLUMN allow_hostless_deploys BIGINT NOT NULL DEFAULT 0;
ALTER TABLE environments ADD COLUMN queue_policy TEXT NOT NULL DEFAULT 'fifo';
ALTER TABLE projects ADD COLUMN output_retention_days BIGINT;
ALTER TABLE projects ADD COLUMN output_retention_bytes BIGINT;
-- A personal token may be limited to less than its owner's role: read, deploy or admin (NULL: the
-- owner's role).
ALTER TABLE api_tokens ADD COLUMN scope TEXT;

CREATE TABLE deploys (
    id                    TEXT PRIMARY KEY,
    project_id            TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    environment_id        TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    project               TEXT NOT NULL,
    environment           TEXT NOT NULL,
    status                TEXT NOT NULL,
    git_ref               TEXT,
    sha                   TEXT,
    description           TEXT NOT NULL,
    host_filter           TEXT NOT NULL,
    user_email            TEXT NOT NULL,
    redeploy_of           TEXT,
    command               TEXT,
    shell                 TEXT,
    variables             TEXT,
    hosts                 TEXT,
    exit_code             BIGINT,
    reason                TEXT,
    cancel_requested_at   BIGINT,
    cancelled_by          TEXT,
    queued_at             BIGINT NOT NULL,
    started_at            BIGINT,
    finished_at           BIGINT,
    runner_node           TEXT,
    supervisor_pid        BIGINT,
    lease_token           TEXT,
    lease_expires_at      BIGINT,
    output_bytes          BIGINT NOT NULL DEFAULT 0,
    output_omitted_bytes  BIGINT NOT NULL DEFAULT 0,
    output_head_end       BIGINT,
    output_pruned_at      BIGINT
);
-- The rule "one running deploy per environment" is the database's, not a process's.
CREATE UNIQUE INDEX deploys_one_running ON deploys (environment_id) WHERE status = 'running';
CREATE INDEX deploys_queue ON deploys (environment_id, status, queued_at, id);
CREATE INDEX deploys_by_project ON deploys (project_id, queued_at, id);
CREATE INDEX deploys_by_status ON deploys (status, queued_at, id);

-- Output in batches: `data` holds frames (stream byte, time in microseconds, length, bytes),
-- raw while the deploy runs, deflated once it has finished.
CREATE TABLE deploy_output (
    deploy_id  TEXT NOT NULL REFERENCES deploys(id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    encoding   TEXT NOT NULL,
    raw_bytes  BIGINT NOT NULL,
    data       BYTEA NOT NULL,
    PRIMARY KEY (deploy_id, seq)
);

CREATE TABLE environment_locks (
    environment_id  TEXT PRIMARY KEY REFERENCES environments(id) ON DELETE CASCADE,
    reason          TEXT NOT NULL,
    locked_by       TEXT NOT NULL,
    locked_at       BIGINT NOT NULL,
    expires_at      BIGINT
);
