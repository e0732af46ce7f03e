#!/usr/bin/env bash
# Measures the policies figure of BENCHMARKS.md ("Policies"): CPU per call with the policies of
# issue 13 on vs off. Gateways side by side in front of one simulator, all on 127.0.0.1:
#   "off": limits no call reaches, no policy;
#   "on": the same limits plus every policy on the hot path: priority_shares (each call is sent
#     with X-Quota-Priority: normal, so admission checks the class's share of every limit), a
#     downgrade rule for the called model (checked on every call; its share is never reached, so
#     the body is not rewritten), upstream_retries = 2 (no 429 comes, so nothing is retried) and
#     a scheduled day and month (reset_daily_at = "06:00", reset_monthly_on = 15);
#   "off again": a second process of off's config, the A/A control whose distance to off is the
#     noise of the method on this machine.
# wrk -t2 -c64 -d${BENCH_SECONDS:-10}s, ${BENCH_ROUNDS:-3} rounds, the order rotated each round;
# medians of requests/s and of each gateway's CPU µs per call (user + system, all threads).
# Usage: scripts/bench-policies.sh PATH/TO/quota-sentinel   (make bench builds it and calls this)
set -euo pipefail
BIN=${1:?usage: bench-policies.sh BIN}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"
TMP=$(mktemp -d)
PIDS=()
trap cleanup EXIT
SECS=${BENCH_SECONDS:-10}; ROUNDS=${BENCH_ROUNDS:-3}

echo "## Policies: CPU per call with the policies on vs off (wrk -t2 -c64 -d${SECS}s, $ROUNDS rounds, order rotated)"
KEY=qs_bench_key_0123456789
HASH=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello benchmark"}],"max_tokens":16}'
SIM=$(port)
QS_LOG=warn "$BIN" simulate --sim-listen 127.0.0.1:$SIM & PIDS+=($!)
LIMITS='requests_per_minute = 0
tokens_per_minute = 0
requests_per_day = 100000000
budget_usd_per_day = 1000000
alert_thresholds = []'
cat > "$TMP/off.toml" <<TOML
[[workspaces]]
id = "bench"
key_sha256 = ["$HASH"]
$LIMITS
TOML
cat > "$TMP/on.toml" <<TOML
[[workspaces]]
id = "bench"
key_sha256 = ["$HASH"]
$LIMITS
priority_shares = { optional = 0.8, normal = 0.95 }
downgrade = [{ from = "gpt-4o-mini", to = "gpt-4.1-nano", at = 0.9 }]
upstream_retries = 2
reset_daily_at = "06:00"
reset_monthly_on = 15
TOML
declare -A GW_PID GW_PORT
start_gateway off "$BIN" "$TMP/off.toml" "$SIM"
start_gateway on "$BIN" "$TMP/on.toml" "$SIM"
start_gateway off2 "$BIN" "$TMP/off.toml" "$SIM"
wait_up "http://127.0.0.1:$SIM/_sim/stats"
for k in off on off2; do wait_up "http://127.0.0.1:${GW_PORT[$k]}/healthz"; done

cat > "$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
wrk.headers["X-Quota-Priority"] = "normal"
LUA
declare -A RPS CPU NON200
rotated_rounds "$TMP/post.lua" off on off2
all_2xx off on off2
echo "| policies | median requests/s | gateway CPU µs per call | rounds (µs per call) |"; echo "|---|---|---|---|"
row "off (limits only)" off
row "on (priority shares, a downgrade rule, retries, a scheduled day and month)" on
row "off again (A/A control: off's config, a second process)" off2
python3 -c "import sys; on,off,off2=map(float,sys.argv[1:4]); print(f'on − off: {on-off:+.1f} µs per call; off again − off (the noise): {off2-off:+.1f} µs per call (medians)')" \
  "$(med "${CPU[on]}")" "$(med "${CPU[off]}")" "$(med "${CPU[off2]}")"
