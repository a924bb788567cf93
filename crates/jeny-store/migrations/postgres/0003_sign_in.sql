-- Sign-in and access: browser sessions, roles on projects and environments, the allowlist,
-- agent tokens, and the short-lived records of the sign-in flows (OIDC logins, device codes,
-- one-time console links). Every secret is stored as its SHA-256 hash only.

ALTER TABLE people ADD COLUMN name TEXT;
ALTER TABLE people ADD COLUMN last_signed_in_at BIGINT;

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    person_id     TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL UNIQUE,
    -- how the person signed in: oidc or console_link
    method        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    -- the absolute expiry; the idle one is last_seen_at plus the configured idle time
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    user_agent    TEXT,
    ip            TEXT
);
CREATE INDEX sessions_person ON sessions (person_id);

CREATE TABLE role_grants (
    id              TEXT PRIMARY KEY,
    person_id       TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    project_id      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    environment_id  TEXT REFERENCES environments(id) ON DELETE CASCADE,
    -- the names (which never change), so that a principal is built without other tables
    project         TEXT NOT NULL,
    environment     TEXT,
    role            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL
);
CREATE UNIQUE INDEX role_grants_place ON role_grants (person_id, project_id, COALESCE(environment_id, ''));

-- Entries added through the API (those in the configuration file are not stored): an email,
-- or a whole domain written @example.com.
CREATE TABLE allowlist (
    entry       TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL
);

CREATE TABLE agent_tokens (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    created_by    TEXT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);

-- An OIDC sign-in between the redirect to the provider and its return: the state (hashed),
-- the nonce and PKCE verifier it must match, and where to go afterwards.
CREATE TABLE oidc_logins (
    state_hash     TEXT PRIMARY KEY,
    nonce          TEXT NOT NULL,
    pkce_verifier  TEXT NOT NULL,
    next_url       TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);

-- RFC 8628 device authorization for `jeny login`.
CREATE TABLE device_codes (
    id                TEXT PRIMARY KEY,
    device_code_hash  TEXT NOT NULL UNIQUE,
    user_code         TEXT NOT NULL UNIQUE,
    client_name       TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    last_polled_at    BIGINT,
    approved_by       TEXT REFERENCES people(id) ON DELETE CASCADE,
    approved_at       BIGINT,
    denied_at         BIGINT,
    consumed_at       BIGINT
);

-- One-time sign-in links printed on the server's console (no OIDC configured).
CREATE TABLE signin_links (
    token_hash  TEXT PRIMARY KEY,
    email       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
