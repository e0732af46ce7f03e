-- The writer's batches that were committed, by id (SQLite's 0012): a batch the ledger spool
-- writes again finds its id here and adds nothing. Pruned with the ledger.
CREATE TABLE written_batches (
    id              TEXT    PRIMARY KEY,
    ts_ms           BIGINT  NOT NULL
);
CREATE INDEX written_batches_ts ON written_batches (ts_ms);
