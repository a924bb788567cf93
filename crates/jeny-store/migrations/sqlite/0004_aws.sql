-- Hosts kept in sync from outside (AWS EC2 now): what keeps each one (managed_by, such as
-- aws:main/eu-west-1), its id there (the instance id), and when it disappeared there. A gone host
-- is kept for history but no selector picks it.

ALTER TABLE hosts ADD COLUMN managed_by TEXT;
ALTER TABLE hosts ADD COLUMN external_id TEXT;
ALTER TABLE hosts ADD COLUMN gone_at BIGINT;
CREATE INDEX hosts_managed ON hosts (managed_by, external_id);

CREATE TABLE aws_accounts (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    -- JSON array of region names
    regions             TEXT NOT NULL,
    profile             TEXT,
    access_key_id       TEXT,
    -- sealed with the server's key, bound to aws_account:<id>
    secret_access_key   BLOB,
    role_arn            TEXT,
    external_id         TEXT,
    -- JSON object: tag key -> value, or "*" for any value
    tag_filters         TEXT NOT NULL,
    endpoint_url        TEXT,
    -- which address Ansible connects to: private or public
    address             TEXT NOT NULL,
    sync_interval_secs  BIGINT NOT NULL,
    enabled             BIGINT NOT NULL,
    -- JSON: the last sync's report
    last_sync           TEXT,
    next_sync_at        BIGINT NOT NULL,
    claimed_by          TEXT,
    claimed_until       BIGINT,
    version             BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
