-- One row per call through the gateway. Times are Unix milliseconds (UTC).
CREATE TABLE ledger (
    id              INTEGER PRIMARY KEY,
    ts_ms           INTEGER NOT NULL,
    workspace       TEXT    NOT NULL,
    key_id          TEXT    NOT NULL,
    family          TEXT    NOT NULL,
    model           TEXT,
    http_status     INTEGER NOT NULL,
    input_tokens    INTEGER NOT NULL DEFAULT 0,
    cached_tokens   INTEGER NOT NULL DEFAULT 0,
    output_tokens   INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens INTEGER NOT NULL DEFAULT 0,
    images          INTEGER NOT NULL DEFAULT 0,
    audio_seconds   REAL    NOT NULL DEFAULT 0,
    characters      INTEGER NOT NULL DEFAULT 0,
    cost_nanos      INTEGER,              -- NULL: the model has no price
    estimated       INTEGER NOT NULL DEFAULT 0,
    latency_ms      INTEGER NOT NULL,
    goal            TEXT,
    task            TEXT,
    priority        TEXT,
    request_id      TEXT,
    upstream_request_id TEXT
);
CREATE INDEX ledger_ws_ts ON ledger (workspace, ts_ms);
CREATE INDEX ledger_ts ON ledger (ts_ms);

-- Hourly sums of ledger rows older than the retention period.
CREATE TABLE usage_rollup (
    hour_ms         INTEGER NOT NULL,
    workspace       TEXT    NOT NULL,
    family          TEXT    NOT NULL,
    model           TEXT    NOT NULL DEFAULT '',
    goal            TEXT    NOT NULL DEFAULT '',
    task            TEXT    NOT NULL DEFAULT '',
    requests        INTEGER NOT NULL,
    input_tokens    INTEGER NOT NULL,
    cached_tokens   INTEGER NOT NULL,
    output_tokens   INTEGER NOT NULL,
    cost_nanos      INTEGER NOT NULL,
    unpriced_requests INTEGER NOT NULL,
    estimated_requests INTEGER NOT NULL,
    PRIMARY KEY (workspace, hour_ms, family, model, goal, task)
);

CREATE TABLE notifications (
    id              TEXT    PRIMARY KEY,
    workspace       TEXT    NOT NULL,
    ts_ms           INTEGER NOT NULL,
    level           TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    args            TEXT    NOT NULL,   -- JSON object
    action_keys     TEXT    NOT NULL    -- JSON array
);
CREATE INDEX notifications_ws_ts ON notifications (workspace, ts_ms);

CREATE TABLE status_changes (
    id              INTEGER PRIMARY KEY,
    workspace       TEXT    NOT NULL,
    ts_ms           INTEGER NOT NULL,
    from_status     TEXT    NOT NULL,
    to_status       TEXT    NOT NULL,
    cause           TEXT    NOT NULL    -- JSON
);
CREATE INDEX status_changes_ws_ts ON status_changes (workspace, ts_ms);

-- Workspaces created through the admin API (those of the config file are not stored).
CREATE TABLE workspaces (
    id              TEXT    PRIMARY KEY,
    name            TEXT    NOT NULL,
    limits          TEXT    NOT NULL,   -- JSON of the create request's limits
    created_ms      INTEGER NOT NULL
);

-- Keys minted through the admin API, stored only as SHA-256.
CREATE TABLE api_keys (
    key_id          TEXT    PRIMARY KEY,
    workspace       TEXT    NOT NULL,
    sha256          BLOB    NOT NULL UNIQUE,
    created_ms      INTEGER NOT NULL
);
