-- Admin reset: the current periods' counters and every reservation in flight are cleared (a
-- reservation's settlement then counts its actual only, as on one node). Replies like a
-- settlement: tag 4 (3: cold).
st.dr, st.dt, st.dc, st.dht, st.dhc, st.mc, st.mhc = 0, 0, 0, 0, 0, 0, 0
for sec in pairs(mr) do mr[sec] = 0 end
for sec in pairs(mt) do mt[sec] = 0 end
redis.call('DEL', r, x)
store()
return reply(4, -1)
