-- Run ids whose ledger rows were rolled up: the roll-up keeps no per-call rows, so without
-- this table a run first retrieved before the retention horizon could be counted again.
-- Pruned to the most recent ids the gateway reloads at start.
CREATE TABLE counted_runs (
    run_id TEXT PRIMARY KEY,
    ts_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX counted_runs_ts ON counted_runs (ts_ms);
