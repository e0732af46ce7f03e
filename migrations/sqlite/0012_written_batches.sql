-- The writer's batches that were committed, by id (issue 14): a batch the ledger spool writes
-- again (its first commit's answer was lost, or a replay was cut short) finds its id here and
-- adds nothing, so every spooled row is written exactly once. Pruned with the ledger.
CREATE TABLE written_batches (
    id              TEXT    PRIMARY KEY,
    ts_ms           INTEGER NOT NULL
);
CREATE INDEX written_batches_ts ON written_batches (ts_ms);
