-- Shared by every Quota Sentinel script (prepended by src/state/mod.rs). One workspace's keys,
-- all in one hash slot ({workspace}):
--   c  hash: ready, v (version), day, dr, dt, dc, dht, dhc (day period, requests, tokens,
--      cost in nano-dollars, the tokens and cost reservations hold), mo, mc, mhc (month)
--   m  hash: r<second> / t<second>: the minute window's requests and tokens per second
--   r  hash: reservation id -> "second day month tokens cost", or "S" once settled
--   x  zset: reservation id -> the second it expires
-- Integers pass through Lua's doubles: exact below 2^53 (9e15 nano-dollars = $9M).
local c, m, r, x = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, day, month = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])

local function s(v) return string.format('%.0f', v) end
local function n(v) return tonumber(v) or 0 end
local function sub0(a, b) if a > b then return a - b end return 0 end

if redis.call('HEXISTS', c, 'ready') == 0 then return {3} end

local h = redis.call('HMGET', c, 'v', 'day', 'dr', 'dt', 'dc', 'dht', 'dhc', 'mo', 'mc', 'mhc')
local st = {v = n(h[1]), day = n(h[2]), dr = n(h[3]), dt = n(h[4]), dc = n(h[5]), dht = n(h[6]),
  dhc = n(h[7]), mo = n(h[8]), mc = n(h[9]), mhc = n(h[10])}
local changed = false
if day > st.day then
  st.day, st.dr, st.dt, st.dc, st.dht, st.dhc = day, 0, 0, 0, 0, 0
  changed = true
end
if month > st.mo then
  st.mo, st.mc, st.mhc = month, 0, 0
  changed = true
end

-- The minute window: seconds that left it are dropped. What was read is kept (mr0, mt0) so that
-- store() writes only the fields that changed.
local mr, mt, mr0, mt0, gone = {}, {}, {}, {}, {}
local flat = redis.call('HGETALL', m)
for i = 1, #flat, 2 do
  local f = flat[i]
  local sec = tonumber(string.sub(f, 2))
  if sec and sec > now - 60 then
    local v = tonumber(flat[i + 1])
    if string.sub(f, 1, 1) == 'r' then mr[sec], mr0[sec] = v, v else mt[sec], mt0[sec] = v, v end
  else
    gone[#gone + 1] = f
    changed = true
  end
end

-- Takes back what a reservation record holds, from the second, day and month it was counted in.
local function take_back(rec)
  local sec, d, mo, t, co = string.match(rec, '^(-?%d+) (-?%d+) (-?%d+) (%d+) (%d+)$')
  if not sec then return end
  sec, d, mo, t, co = tonumber(sec), tonumber(d), tonumber(mo), tonumber(t), tonumber(co)
  if mt[sec] then mt[sec] = sub0(mt[sec], t) end
  if d == st.day then
    st.dt, st.dc = sub0(st.dt, t), sub0(st.dc, co)
    st.dht, st.dhc = sub0(st.dht, t), sub0(st.dhc, co)
  end
  if mo == st.mo then
    st.mc, st.mhc = sub0(st.mc, co), sub0(st.mhc, co)
  end
  changed = true
end

-- Reservations past their expiry are released (their instance died or lost Redis), and the
-- settled ids kept for idempotency are forgotten.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', x, '-inf', now)) do
  local rec = redis.call('HGET', r, id)
  if rec and rec ~= 'S' then take_back(rec) end
  redis.call('HDEL', r, id)
  redis.call('ZREM', x, id)
end

-- The reply: tag, version, the counters, the refused limit (-1: none), then the minute's
-- seconds as (second, requests, tokens).
local function reply(tag, refused)
  local out = {tag, st.v, st.day, st.dr, st.dt, st.dc, st.dht, st.dhc, st.mo, st.mc, st.mhc, refused}
  local secs = {}
  for sec, _ in pairs(mr) do secs[sec] = true end
  for sec, _ in pairs(mt) do secs[sec] = true end
  for sec, _ in pairs(secs) do
    local rq, tk = mr[sec] or 0, mt[sec] or 0
    if rq > 0 or tk > 0 then
      out[#out + 1] = sec
      out[#out + 1] = rq
      out[#out + 1] = tk
    end
  end
  return out
end

-- Writes the counters back (with a new version) and renews the keys' lifetimes. Of the minute,
-- only the seconds that changed are written (a second at 0 and the seconds that left the
-- window are deleted): one call touches a field or two, not the whole minute.
local function store()
  st.v = st.v + 1
  redis.call('HSET', c, 'v', s(st.v), 'day', s(st.day), 'dr', s(st.dr), 'dt', s(st.dt),
    'dc', s(st.dc), 'dht', s(st.dht), 'dhc', s(st.dhc), 'mo', s(st.mo), 'mc', s(st.mc),
    'mhc', s(st.mhc))
  redis.call('EXPIRE', c, 3456000)
  local set, del = {}, gone
  local function diff(now_t, was_t, prefix)
    for sec, v in pairs(now_t) do
      if v ~= was_t[sec] then
        if v > 0 then
          set[#set + 1] = prefix .. s(sec)
          set[#set + 1] = s(v)
        else
          del[#del + 1] = prefix .. s(sec)
        end
      end
    end
  end
  diff(mr, mr0, 'r')
  diff(mt, mt0, 't')
  if #del > 0 then redis.call('HDEL', m, unpack(del)) end
  if #set > 0 then
    redis.call('HSET', m, unpack(set))
    redis.call('EXPIRE', m, 120)
  end
end
