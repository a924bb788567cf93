-- Slack requests already acted on (a slash command, a button click, an event), so that the same
-- signed request sent again within its five-minute signature window, to this node or another,
-- after a restart or not, is answered and ignored. key is a SHA-256 of what makes the request
-- unique (team, user, action and trigger_id or action_ts); a row is kept past the window, then
-- deleted a few at a time as new requests come in.
CREATE TABLE chat_seen (
    key         TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX chat_seen_expiry ON chat_seen (expires_at);
