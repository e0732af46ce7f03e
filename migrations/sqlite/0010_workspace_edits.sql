-- Limits and alert rules an admin edited through PATCH /api/admin/workspaces/{id}: the fields
-- given, as written (JSON of the limit fields), applied over the file's or the stored
-- workspace's limits. They win over both, and survive restarts.
CREATE TABLE workspace_edits (
    id              TEXT    PRIMARY KEY,
    limits          TEXT    NOT NULL,
    updated_ms      INTEGER NOT NULL
);

-- The admin's overview lists the newest notifications of every workspace; the alert marks are
-- read by time at start.
CREATE INDEX notifications_ts ON notifications (ts_ms);
