-- The whole schema on PostgreSQL: the same tables, columns and meanings as the SQLite
-- migrations 0001–0011 (see migrations/sqlite for the comments on each), in PostgreSQL's
-- types. Integers are BIGINT throughout (the store reads every integer as i64), REAL is
-- DOUBLE PRECISION, BLOB is BYTEA. Later changes come as a migration in both directories.

-- One row per call through the gateway. Times are Unix milliseconds (UTC).
CREATE TABLE ledger (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts_ms               BIGINT  NOT NULL,
    workspace           TEXT    NOT NULL,
    key_id              TEXT    NOT NULL,
    family              TEXT    NOT NULL,
    model               TEXT,
    http_status         BIGINT  NOT NULL,
    input_tokens        BIGINT  NOT NULL DEFAULT 0,
    cached_tokens       BIGINT  NOT NULL DEFAULT 0,
    output_tokens       BIGINT  NOT NULL DEFAULT 0,
    reasoning_tokens    BIGINT  NOT NULL DEFAULT 0,
    images              BIGINT  NOT NULL DEFAULT 0,
    audio_seconds       DOUBLE PRECISION NOT NULL DEFAULT 0,
    characters          BIGINT  NOT NULL DEFAULT 0,
    cost_nanos          BIGINT,             -- NULL: the model has no price
    estimated           BIGINT  NOT NULL DEFAULT 0,
    latency_ms          BIGINT  NOT NULL,
    goal                TEXT,
    task                TEXT,
    priority            TEXT,
    request_id          TEXT,
    upstream_request_id TEXT,
    run_id              TEXT,
    path                TEXT,
    requested_model     TEXT,
    upstream_retries    BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX ledger_ws_ts ON ledger (workspace, ts_ms);
CREATE INDEX ledger_ts ON ledger (ts_ms);
CREATE INDEX ledger_runs ON ledger (ts_ms) WHERE run_id IS NOT NULL;

-- Hourly sums of ledger rows older than the retention period.
CREATE TABLE usage_rollup (
    hour_ms             BIGINT  NOT NULL,
    workspace           TEXT    NOT NULL,
    family              TEXT    NOT NULL,
    model               TEXT    NOT NULL DEFAULT '',
    goal                TEXT    NOT NULL DEFAULT '',
    task                TEXT    NOT NULL DEFAULT '',
    requests            BIGINT  NOT NULL,
    input_tokens        BIGINT  NOT NULL,
    cached_tokens       BIGINT  NOT NULL,
    output_tokens       BIGINT  NOT NULL,
    cost_nanos          BIGINT  NOT NULL,
    unpriced_requests   BIGINT  NOT NULL,
    estimated_requests  BIGINT  NOT NULL,
    PRIMARY KEY (workspace, hour_ms, family, model, goal, task)
);

CREATE TABLE counted_runs (
    run_id              TEXT    PRIMARY KEY,
    ts_ms               BIGINT  NOT NULL
);
CREATE INDEX counted_runs_ts ON counted_runs (ts_ms);

CREATE TABLE notifications (
    id                  TEXT    PRIMARY KEY,
    workspace           TEXT    NOT NULL,
    ts_ms               BIGINT  NOT NULL,
    level               TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    key                 TEXT    NOT NULL,
    args                TEXT    NOT NULL,   -- JSON object
    action_keys         TEXT    NOT NULL    -- JSON array
);
CREATE INDEX notifications_ws_ts ON notifications (workspace, ts_ms);
CREATE INDEX notifications_ts ON notifications (ts_ms);

CREATE TABLE status_changes (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace           TEXT    NOT NULL,
    ts_ms               BIGINT  NOT NULL,
    from_status         TEXT    NOT NULL,
    to_status           TEXT    NOT NULL,
    cause               TEXT    NOT NULL    -- JSON
);
CREATE INDEX status_changes_ws_ts ON status_changes (workspace, ts_ms);

-- Workspaces created through the admin API (those of the config file are not stored).
CREATE TABLE workspaces (
    id                  TEXT    PRIMARY KEY,
    name                TEXT    NOT NULL,
    limits              TEXT    NOT NULL,   -- JSON of the create request's limits
    created_ms          BIGINT  NOT NULL
);

-- Keys minted through the admin API, stored only as SHA-256.
CREATE TABLE api_keys (
    key_id              TEXT    PRIMARY KEY,
    workspace           TEXT    NOT NULL,
    sha256              BYTEA   NOT NULL UNIQUE,
    created_ms          BIGINT  NOT NULL
);

-- Gateway-wide settings: the salt the session signing key is derived with.
CREATE TABLE settings (
    key                 TEXT    PRIMARY KEY,
    value               BYTEA   NOT NULL
);

-- Sessions signed out before they expire, kept until the end of their possible life.
CREATE TABLE revoked_sessions (
    sid                 TEXT    PRIMARY KEY,
    until_s             BIGINT  NOT NULL
);

-- Alert channels created through the admin API, the outbox and the delivery log (issue 12).
CREATE TABLE channels (
    id                  TEXT    PRIMARY KEY,
    spec                TEXT    NOT NULL,
    secret              TEXT,
    created_ms          BIGINT  NOT NULL
);

CREATE TABLE outbox (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    notification_id     TEXT    NOT NULL,
    channel_id          TEXT    NOT NULL,
    payload             TEXT    NOT NULL,
    state               TEXT    NOT NULL DEFAULT 'pending',   -- pending | delivered | gave_up
    due_ms              BIGINT  NOT NULL,
    attempts            BIGINT  NOT NULL DEFAULT 0,
    first_attempt_ms    BIGINT,
    claimed_until_ms    BIGINT  NOT NULL DEFAULT 0,
    claimed_by          TEXT,
    created_ms          BIGINT  NOT NULL,
    UNIQUE (notification_id, channel_id)
);
CREATE INDEX outbox_due ON outbox (state, due_ms);

CREATE TABLE deliveries (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id           BIGINT  NOT NULL,
    channel_id          TEXT    NOT NULL,
    notification_id     TEXT    NOT NULL,
    ts_ms               BIGINT  NOT NULL,
    attempt             BIGINT  NOT NULL,
    outcome             TEXT    NOT NULL,   -- delivered | will_retry | gave_up
    http_status         BIGINT,
    smtp_code           BIGINT,
    detail              TEXT,
    latency_ms          BIGINT  NOT NULL,
    worker              TEXT    NOT NULL
);
CREATE INDEX deliveries_channel ON deliveries (channel_id, id);

-- Every admin action. Kept for good: the ledger's retention and roll-up do not touch it.
CREATE TABLE audit_log (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts_ms               BIGINT  NOT NULL,
    actor               TEXT    NOT NULL,
    address             TEXT,
    action              TEXT    NOT NULL,
    target              TEXT    NOT NULL,
    before              TEXT,
    after               TEXT
);
CREATE INDEX audit_log_ts ON audit_log (ts_ms);

-- Limits and alert rules an admin edited through PATCH /api/admin/workspaces/{id}.
CREATE TABLE workspace_edits (
    id                  TEXT    PRIMARY KEY,
    limits              TEXT    NOT NULL,
    updated_ms          BIGINT  NOT NULL
);
