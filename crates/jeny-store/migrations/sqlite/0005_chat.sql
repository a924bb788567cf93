-- Work that one node of a cluster does at a time (the chat notifier): who holds it, and until
-- when; another node takes it over once it expires.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);

-- The Slack connection (one row, id 'slack'), set by admins. Tokens and the signing secret are
-- sealed with the server's key, bound to chat_settings:<field>.
CREATE TABLE chat_settings (
    id               TEXT PRIMARY KEY,
    enabled          BIGINT NOT NULL,
    -- socket (Socket Mode: jeny connects out) or http (Slack posts to /chat/slack/...)
    mode             TEXT NOT NULL,
    bot_token        BLOB,
    signing_secret   BLOB,
    app_token        BLOB,
    default_channel  TEXT,
    api_url          TEXT NOT NULL,
    version          BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

-- Where a project's deploy messages go; environment '' is every environment of the project.
CREATE TABLE chat_channels (
    project      TEXT NOT NULL,
    environment  TEXT NOT NULL,
    channel      TEXT NOT NULL,
    PRIMARY KEY (project, environment)
);

-- Every Slack message jeny posted for something (a deploy's live message, its failure thread), so
-- that a restart updates it instead of posting it again. ts is null while a post is under way:
-- after a crash there, the channel's history (the message's metadata names the key) tells
-- whether it went out.
CREATE TABLE chat_posts (
    key           TEXT PRIMARY KEY,
    -- the channel's id once posted (the channel as configured until then)
    channel       TEXT NOT NULL,
    -- the channel as configured (#deploys or an id): how a name is found as an id again
    requested_channel TEXT NOT NULL,
    ts            TEXT,
    thread_ts     TEXT,
    -- live: still changing (a running deploy); done: final
    state         TEXT NOT NULL,
    -- what was last sent, to skip updates that change nothing
    content_hash  TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX chat_posts_live ON chat_posts (state);
CREATE INDEX chat_posts_channel ON chat_posts (requested_channel);
