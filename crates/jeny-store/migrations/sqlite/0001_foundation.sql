-- The foundation: people and tokens, the event log, projects, environments, variables, hosts.
-- Types kept to the portable set: TEXT, BIGINT (times are unix microseconds, booleans 0/1), BLOB.

CREATE TABLE people (
    id          TEXT PRIMARY KEY,
    email       TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    person_id     TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    expires_at    BIGINT,
    revoked_at    BIGINT
);

CREATE TABLE events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    type         TEXT NOT NULL,
    project      TEXT,
    environment  TEXT,
    actor        TEXT NOT NULL,
    time         BIGINT NOT NULL,
    payload      TEXT NOT NULL
);
CREATE INDEX events_by_project ON events (project, id);

CREATE TABLE event_cursors (
    consumer    TEXT PRIMARY KEY,
    position    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE projects (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL,
    repository      TEXT,
    deploy_command  TEXT NOT NULL,
    version         BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE environments (
    id                   TEXT PRIMARY KEY,
    project_id           TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    host_selector        TEXT NOT NULL,
    deploy_command       TEXT,
    deploy_timeout_secs  BIGINT NOT NULL,
    version              BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE variables (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    environment_id  TEXT REFERENCES environments(id) ON DELETE CASCADE,
    key             TEXT NOT NULL,
    value           TEXT,
    sealed_value    BLOB,
    secret          BIGINT NOT NULL,
    version         BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX variables_project_key ON variables (project_id, key) WHERE environment_id IS NULL;
CREATE UNIQUE INDEX variables_environment_key ON variables (environment_id, key) WHERE environment_id IS NOT NULL;

CREATE TABLE hosts (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    address       TEXT NOT NULL,
    tags          TEXT NOT NULL,
    source        TEXT NOT NULL,
    last_seen_at  BIGINT,
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE host_tags (
    host_id  TEXT NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (host_id, key)
);
CREATE INDEX host_tags_by_key_value ON host_tags (key, value);

-- host_tags is derived from hosts.tags by the database itself, so the two can never disagree
-- and a write that changes a host's tags costs no extra statement.
CREATE TRIGGER host_tags_after_insert AFTER INSERT ON hosts BEGIN
    INSERT INTO host_tags (host_id, key, value) SELECT NEW.id, key, value FROM json_each(NEW.tags);
END;
CREATE TRIGGER host_tags_after_update AFTER UPDATE OF tags ON hosts BEGIN
    DELETE FROM host_tags WHERE host_id = NEW.id;
    INSERT INTO host_tags (host_id, key, value) SELECT NEW.id, key, value FROM json_each(NEW.tags);
END;

-- Server-wide settings that must be the same on every node (such as the check that proves the
-- node's secret key is the one this database's secrets were sealed with).
CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       BLOB NOT NULL,
    updated_at  BIGINT NOT NULL
);
