-- Admin reset: the current periods' counters and every reservation in flight are cleared (a
-- reservation's settlement then counts its actual only, as on one node). Replies like a
-- settlement: tag 4 (3: cold).
st.dr, st.dt, st.dc, st.dht, st.dhc, st.mc, st.mhc = 0, 0, 0, 0, 0, 0, 0
mr, mt = {}, {}
redis.call('DEL', r, x)
store()
return reply(4, -1)
