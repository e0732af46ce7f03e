-- Alert channels and durable delivery (issue 12).

-- Channels created through the admin API (those of the config file are not stored). `spec` is
-- the JSON of the create body as given; `secret` the webhook signing secret the gateway made
-- when the body named no `secret_env` (the file is readable by its owner only).
CREATE TABLE channels (
    id              TEXT    PRIMARY KEY,
    spec            TEXT    NOT NULL,
    secret          TEXT,
    created_ms      INTEGER NOT NULL
);

-- One row per notification and matching channel, written in the transaction that stores the
-- notification: a notification a second gateway instance stores again (same id) is ignored,
-- so it is delivered once. `payload` is the notification as JSON (test alerts are in no
-- workspace's list). A worker leases due rows (`claimed_until_ms`, `claimed_by`) before it
-- sends, so two processes on one database never send the same row at once.
CREATE TABLE outbox (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    notification_id     TEXT    NOT NULL,
    channel_id          TEXT    NOT NULL,
    payload             TEXT    NOT NULL,
    state               TEXT    NOT NULL DEFAULT 'pending',   -- pending | delivered | gave_up
    due_ms              INTEGER NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    first_attempt_ms    INTEGER,
    claimed_until_ms    INTEGER NOT NULL DEFAULT 0,
    claimed_by          TEXT,
    created_ms          INTEGER NOT NULL,
    UNIQUE (notification_id, channel_id)
);
CREATE INDEX outbox_due ON outbox (state, due_ms);

-- Every delivery attempt: what the receiver answered (HTTP status, or SMTP code and text,
-- truncated; never a secret) and how long it took.
CREATE TABLE deliveries (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id           INTEGER NOT NULL,
    channel_id          TEXT    NOT NULL,
    notification_id     TEXT    NOT NULL,
    ts_ms               INTEGER NOT NULL,
    attempt             INTEGER NOT NULL,
    outcome             TEXT    NOT NULL,   -- delivered | will_retry | gave_up
    http_status         INTEGER,
    smtp_code           INTEGER,
    detail              TEXT,
    latency_ms          INTEGER NOT NULL,
    worker              TEXT    NOT NULL
);
CREATE INDEX deliveries_channel ON deliveries (channel_id, id);
