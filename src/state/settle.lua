-- Settlement: ARGV[4] reservation id, [5] actual tokens, [6] actual cost, [7] until when the
-- settled id is remembered, [8] the second the call was admitted. Takes back the reservation
-- (if not released by expiry) and counts the actual at now, once per id. A call admitted
-- before the counters were seeded from the ledger counts nothing: its row is in the seed, or
-- counted by no one rather than twice. Replies with the counters after: tag 4 (3: cold).
local id, tokens, cost, keep = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
if not redis.call('HGET', r, id) and tonumber(ARGV[8]) <= n(redis.call('HGET', c, 'seeded')) then
  tokens, cost = 0, 0
end
local rec = redis.call('HGET', r, id)
if rec == 'S' then
  if changed then store() end
  return reply(4, -1)
end
if rec then take_back(rec) end
mt[now] = (mt[now] or 0) + tokens
if day == st.day then st.dt, st.dc = st.dt + tokens, st.dc + cost end
if month == st.mo then st.mc = st.mc + cost end
redis.call('HSET', r, id, 'S')
redis.call('ZADD', x, keep, id)
if redis.call('TTL', r) < keep - now + 60 then
  redis.call('EXPIRE', r, keep - now + 60)
  redis.call('EXPIRE', x, keep - now + 60)
end
store()
return reply(4, -1)
