-- Seeding a cold workspace: KEYS[1] c, KEYS[2] m; ARGV: now, day, dr, dt, dc, month, mc, then
-- the minute's (second, requests, tokens). Sets the counters (never adds) unless another instance
-- seeded them first. Replies 1 when seeded, 0 when already ready.
local c, m = KEYS[1], KEYS[2]
if redis.call('HEXISTS', c, 'ready') == 1 then return 0 end
local v = tonumber(redis.call('HGET', c, 'v') or '0') + 1
redis.call('DEL', m)
redis.call('HSET', c, 'ready', '1', 'seeded', ARGV[1], 'v', string.format('%.0f', v), 'day', ARGV[2],
  'dr', ARGV[3], 'dt', ARGV[4], 'dc', ARGV[5], 'dht', '0', 'dhc', '0', 'mo', ARGV[6], 'mc', ARGV[7],
  'mhc', '0')
redis.call('EXPIRE', c, 3456000)
local args = {}
for i = 8, #ARGV, 3 do
  args[#args + 1] = 'r' .. ARGV[i]
  args[#args + 1] = ARGV[i + 1]
  args[#args + 1] = 't' .. ARGV[i]
  args[#args + 1] = ARGV[i + 2]
end
if #args > 0 then
  redis.call('HSET', m, unpack(args))
  redis.call('EXPIRE', m, 120)
end
return 1
