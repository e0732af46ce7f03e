#!/usr/bin/env bash
# Measures the alert figures of BENCHMARKS.md ("Alerts"), all on 127.0.0.1:
#  1. crossing → webhook: examples/alert_latency.rs (100 workspaces of one request a day, one crossing
#     every 20 ms, a webhook channel to a receiver in the example), $ROUNDS runs; p50/p99/max of each, medians;
#  2. CPU per call with alert rules on vs off: gateways side by side in front of one simulator,
#     "off" (alert_thresholds = [], no channel) and "on" (default thresholds on a budget and day limits
#     no call reaches, so every call runs the threshold check, plus a webhook channel to a local
#     receiver), and "off again", a second process of off's config: the A/A control, whose distance
#     to off is the noise of the method on this machine; wrk -t2 -c64 -d10s, $ROUNDS rounds, the order
#     rotated each round; medians of requests/s and of each gateway's CPU µs per call (user + system,
#     all threads, from /proc/PID/stat), and the differences on − off and off again − off.
# Usage: scripts/bench-alerts.sh PATH/TO/quota-sentinel   (make bench builds it and the example, and calls this)
set -euo pipefail
BIN=${1:?usage: bench-alerts.sh BIN}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"
TMP=$(mktemp -d)
PIDS=()
trap cleanup EXIT
SECS=${BENCH_SECONDS:-10}; ROUNDS=${BENCH_ROUNDS:-3}
EXAMPLES="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples"

echo "## Alerts: crossing → webhook (examples/alert_latency: 100 crossings 20 ms apart, $ROUNDS runs; ms)"
declare -a P50 P99 MAX
for r in $(seq 1 "$ROUNDS"); do
  out=$("$EXAMPLES/alert_latency" "$BIN" 100 20)
  echo "run $r: $out"
  read -r a b c < <(python3 -c "import json,sys; r=json.loads(sys.argv[1]); assert r['delivered']==r['crossings'], r; m=r['ms']; print(m['p50'], m['p99'], m['max'])" "$out")
  P50+=("$a"); P99+=("$b"); MAX+=("$c")
done
echo "| crossing → webhook | p50 ms | p99 ms | max ms |"; echo "|---|---|---|---|"
echo "| medians of $ROUNDS runs | $(med "${P50[*]}") | $(med "${P99[*]}") | $(med "${MAX[*]}") |"
echo "(target: p99 ≤ 250 ms; worst p99 of the runs: $(printf '%s\n' "${P99[@]}" | sort -n | tail -1) ms)"

echo; echo "## Alerts: CPU per call with alert rules on vs off (wrk -t2 -c64 -d${SECS}s, $ROUNDS rounds, order rotated)"
KEY=qs_bench_key_0123456789
ADMIN=qs_bench_admin_key_0123456789   # set only so the gateways do not warn that sessions end with them
HASH=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello benchmark"}],"max_tokens":16}'
SIM=$(port); OFF=$(port); ON=$(port); OFF2=$(port); RX=$(port)
QS_LOG=warn "$BIN" simulate --sim-listen 127.0.0.1:$SIM & SIM_PID=$!; PIDS+=($SIM_PID)
# The "on" gateway's webhook receiver: answers 200 to every POST (no call crosses a threshold here,
# so it should receive nothing; it exists so the channel is a live one).
python3 - "$RX" <<'PY' & PIDS+=($!)
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-length", "2"); self.end_headers(); self.wfile.write(b"ok")
    do_GET = do_POST
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
# Limits no call of the run reaches (so no call is refused and no threshold fires), the same in all.
LIMITS='requests_per_minute = 0
tokens_per_minute = 0
requests_per_day = 100000000
budget_usd_per_day = 1000000'
cat > "$TMP/off.toml" <<TOML
[[workspaces]]
id = "bench"
key_sha256 = ["$HASH"]
$LIMITS
alert_thresholds = []
TOML
cat > "$TMP/on.toml" <<TOML
[[workspaces]]
id = "bench"
key_sha256 = ["$HASH"]
$LIMITS
[[channels]]
id = "bench"
kind = "webhook"
url = "http://127.0.0.1:$RX/hook"
secret_env = "QS_BENCH_WEBHOOK_SECRET"
TOML
QUOTA_ADMIN_KEY=$ADMIN QS_LOG=warn OPENAI_API_KEY=sk-bench "$BIN" serve --config "$TMP/off.toml" --listen 127.0.0.1:$OFF \
  --database-url "sqlite://$TMP/off.db" --upstream-url http://127.0.0.1:$SIM/v1 & OFF_PID=$!; PIDS+=($OFF_PID)
QS_BENCH_WEBHOOK_SECRET=whsec_YmVuY2gtYWxlcnRzLXdlYmhvb2stc2VjcmV0LTAw QUOTA_ADMIN_KEY=$ADMIN QS_LOG=warn OPENAI_API_KEY=sk-bench \
  "$BIN" serve --config "$TMP/on.toml" --listen 127.0.0.1:$ON \
  --database-url "sqlite://$TMP/on.db" --upstream-url http://127.0.0.1:$SIM/v1 & ON_PID=$!; PIDS+=($ON_PID)
QUOTA_ADMIN_KEY=$ADMIN QS_LOG=warn OPENAI_API_KEY=sk-bench "$BIN" serve --config "$TMP/off.toml" --listen 127.0.0.1:$OFF2 \
  --database-url "sqlite://$TMP/off2.db" --upstream-url http://127.0.0.1:$SIM/v1 & OFF2_PID=$!; PIDS+=($OFF2_PID)
wait_up "http://127.0.0.1:$SIM/_sim/stats"; wait_up "http://127.0.0.1:$RX/"
for p in $OFF $ON $OFF2; do wait_up "http://127.0.0.1:$p/healthz"; done

cat > "$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
LUA
declare -A RPS CPU NON200
declare -A GW_PID=([off]=$OFF_PID [on]=$ON_PID [off2]=$OFF2_PID) GW_PORT=([off]=$OFF [on]=$ON [off2]=$OFF2)
rotated_rounds "$TMP/post.lua" off on off2
all_2xx off on off2
echo "| alert rules | median requests/s | gateway CPU µs per call | rounds (µs per call) |"; echo "|---|---|---|---|"
row "off (alert_thresholds = [], no channel)" off
row "on (default thresholds, a webhook channel)" on
row "off again (A/A control: off's config, a second process)" off2
python3 -c "import sys; on,off,off2=map(float,sys.argv[1:4]); print(f'on − off: {on-off:+.1f} µs per call; off again − off (the noise): {off2-off:+.1f} µs per call (medians)')" \
  "$(med "${CPU[on]}")" "$(med "${CPU[off]}")" "$(med "${CPU[off2]}")"
