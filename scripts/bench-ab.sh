#!/usr/bin/env bash
# Compares two builds of the gateway: CPU per call and requests/s of build A and build B side by
# side in front of one simulator, plus a second process of A (the A/A control, whose distance to
# A is the noise of the method on this machine). Same config in all (one workspace, limits no
# call reaches), the small chat completion of scripts/bench.sh; wrk -t2 -c64 -d${BENCH_SECONDS:-10}s,
# ${BENCH_ROUNDS:-5} rounds, the order rotated each round; medians. All on 127.0.0.1.
# Usage: scripts/bench-ab.sh OLD_BIN NEW_BIN   (e.g. a release build of an earlier commit, made in
# a git worktree with its own CARGO_TARGET_DIR, against the current one)
set -euo pipefail
A=${1:?usage: bench-ab.sh A_BIN B_BIN}; B=${2:?usage: bench-ab.sh A_BIN B_BIN}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"
TMP=$(mktemp -d)
PIDS=()
trap cleanup EXIT
SECS=${BENCH_SECONDS:-10}; ROUNDS=${BENCH_ROUNDS:-5}
KEY=qs_bench_key_0123456789
HASH=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
SIM=$(port)
QS_LOG=warn "$A" simulate --sim-listen 127.0.0.1:$SIM & PIDS+=($!)
cat > "$TMP/ws.toml" <<TOML
[[workspaces]]
id = "bench"
key_sha256 = ["$HASH"]
requests_per_minute = 0
tokens_per_minute = 0
requests_per_day = 100000000
budget_usd_per_day = 1000000
alert_thresholds = []
TOML
declare -A GW_PID GW_PORT
start_gateway a "$A" "$TMP/ws.toml" "$SIM"
start_gateway b "$B" "$TMP/ws.toml" "$SIM"
start_gateway a2 "$A" "$TMP/ws.toml" "$SIM"
wait_up "http://127.0.0.1:$SIM/_sim/stats"
for k in a b a2; do wait_up "http://127.0.0.1:${GW_PORT[$k]}/healthz"; done
cat > "$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello benchmark"}],"max_tokens":16}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
LUA
declare -A RPS CPU NON200
rotated_rounds "$TMP/post.lua" a b a2
all_2xx a b a2
echo "| build | median requests/s | gateway CPU µs per call | rounds (µs per call) |"; echo "|---|---|---|---|"
row "A ($A)" a
row "B ($B)" b
row "A again (A/A control)" a2
python3 -c "import sys; b,a,a2=map(float,sys.argv[1:4]); print(f'B − A: {b-a:+.1f} µs per call; A again − A (the noise): {a2-a:+.1f} µs per call (medians)')" \
  "$(med "${CPU[b]}")" "$(med "${CPU[a]}")" "$(med "${CPU[a2]}")"
