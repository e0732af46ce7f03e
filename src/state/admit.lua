-- Admission: ARGV[4] reservation id, [5] the second it expires, [6] tokens, [7] cost,
-- [8..13] the caps in LimitKind order (-1: none). Checks every window and reserves, all or
-- nothing. Replies with the counters just before the call: tag 1 reserved, 2 refused
-- (with the limit's index), 3 cold (never seeded: the caller seeds from the ledger).
local id, expires = ARGV[4], tonumber(ARGV[5])
local tokens, cost = tonumber(ARGV[6]), tonumber(ARGV[7])
local sr, stk = 0, 0
for _, v in pairs(mr) do sr = sr + v end
for _, v in pairs(mt) do stk = stk + v end
local used = {sr, st.dr, stk, st.dt, st.dc, st.mc}
local demand = {1, 1, tokens, tokens, cost, cost}
for k = 1, 6 do
  local cap = tonumber(ARGV[7 + k])
  if cap >= 0 and not (used[k] < cap and used[k] + demand[k] <= cap) then
    if changed then store() end
    return reply(2, k - 1)
  end
end
if redis.call('HEXISTS', r, id) == 1 then
  -- The same id twice (a retried script): already reserved.
  return reply(1, -1)
end
local out = reply(1, -1)
mr[now] = (mr[now] or 0) + 1
mt[now] = (mt[now] or 0) + tokens
st.dr, st.dt, st.dc = st.dr + 1, st.dt + tokens, st.dc + cost
st.dht, st.dhc = st.dht + tokens, st.dhc + cost
st.mc, st.mhc = st.mc + cost, st.mhc + cost
redis.call('HSET', r, id, s(now) .. ' ' .. s(st.day) .. ' ' .. s(st.mo) .. ' ' .. s(tokens) .. ' ' .. s(cost))
redis.call('ZADD', x, expires, id)
local ttl = expires - now + 60
if redis.call('TTL', r) < ttl then
  redis.call('EXPIRE', r, ttl)
  redis.call('EXPIRE', x, ttl)
end
store()
out[2] = st.v
return out
