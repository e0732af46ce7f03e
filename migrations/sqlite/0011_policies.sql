-- What the workspace's policies did to a call (issue 13). `model` stays the model actually
-- used; `requested_model` is the caller's model when a downgrade rule sent the call for
-- another one, NULL otherwise. `upstream_retries` counts the times the gateway sent the call
-- again after an upstream `rate_limit_exceeded` (one call is still one row).
ALTER TABLE ledger ADD COLUMN requested_model TEXT;
ALTER TABLE ledger ADD COLUMN upstream_retries INTEGER NOT NULL DEFAULT 0;
