-- Reading the counters (another instance changed a status): releases what expired, changes
-- nothing else. Replies like a settlement: tag 4 (3: cold).
if changed then store() end
return reply(4, -1)
