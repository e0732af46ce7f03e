-- Every admin action: who, when, from where, what changed (secrets masked). Kept for good: the
-- ledger's retention and roll-up do not touch it.
CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY,
    ts_ms           INTEGER NOT NULL,
    actor           TEXT    NOT NULL,   -- "admin-key", "session:<first 8 of its id>", "setup-session:…"
    address         TEXT,               -- the caller's IP address, when known
    action          TEXT    NOT NULL,   -- workspace.create, key.mint, key.revoke, quota.reset, …
    target          TEXT    NOT NULL,   -- what it acted on (a workspace id, a key id, a channel id)
    before          TEXT,               -- JSON, secrets masked; NULL when nothing was there
    after           TEXT                -- JSON, secrets masked; NULL when nothing is left
);
CREATE INDEX audit_log_ts ON audit_log (ts_ms);
