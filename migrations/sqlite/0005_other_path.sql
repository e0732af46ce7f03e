-- The path (after `/v1/`, without the query) of a call counted under the family `other`: a
-- path outside the gateway's list of OpenAI families. NULL for every other row, so the usual
-- call costs nothing more; roll-ups keep only the family.
ALTER TABLE ledger ADD COLUMN path TEXT;
