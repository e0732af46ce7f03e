-- The id of a run whose usage a ledger row counted, so that a run retrieved again after a
-- restart is not counted twice (the gateway reloads the recent ones at start).
ALTER TABLE ledger ADD COLUMN run_id TEXT;
CREATE INDEX ledger_runs ON ledger (ts_ms) WHERE run_id IS NOT NULL;
