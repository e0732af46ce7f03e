#!/usr/bin/env bash
# Measures the figures of BENCHMARKS.md side by side in one run, all on 127.0.0.1:
#  1. added latency at a fixed 1,000 requests/s: simulator direct vs through the gateway (and nginx);
#  2. maximum requests/s (wrk, 64 connections) through the gateway vs nginx proxy_pass, 3 alternating rounds,
#     with two bare proxies (examples/bare_proxy.rs) as floors of the gateway's HTTP stack: axum + hyper-util
#     served thread per core like the gateway (`--per-core`), and hyper's connection APIs alone (`--lean`);
#     and the CPU time each proxy and the simulator spend per call in those rounds;
#     and the ledger writer's CPU per row on its own (examples/ledger_write.rs, median of three runs);
#  3. memory per idle workspace (RSS with 10,000 workspaces vs none, median of three starts);
#  4. Web UI: WASM sizes, server render of /admin with 1,000 workspaces.
# Usage: scripts/bench.sh PATH/TO/quota-sentinel     (make bench builds it and calls this)
set -euo pipefail
BIN=${1:?usage: bench.sh BIN}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "not up: $1" >&2; exit 1; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
KEY=qs_bench_key_0123456789
HASH=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello benchmark"}],"max_tokens":16}'
RATE=${BENCH_RATE:-1000}; SECS=${BENCH_SECONDS:-10}; ROUNDS=${BENCH_ROUNDS:-3}

SIM=$(port); GW=$(port); NG=$(port); BP=$(port); PC=$(port)
QS_LOG=warn "$BIN" simulate --sim-listen 127.0.0.1:$SIM & SIM_PID=$!; PIDS+=($SIM_PID)
cat > "$TMP/qs.toml" <<TOML
[[workspaces]]
id = "bench"
key_sha256 = ["$HASH"]
requests_per_minute = 0
requests_per_day = 0
tokens_per_minute = 0
TOML
QS_LOG=warn OPENAI_API_KEY=sk-bench "$BIN" serve --config "$TMP/qs.toml" --listen 127.0.0.1:$GW \
  --database-url "sqlite://$TMP/qs.db" --upstream-url http://127.0.0.1:$SIM/v1 & GW_PID=$!; PIDS+=($GW_PID)
mkdir -p "$TMP/nginx"
cat > "$TMP/nginx.conf" <<NGINX
worker_processes auto;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx; proxy_temp_path $TMP/nginx;
  fastcgi_temp_path $TMP/nginx; uwsgi_temp_path $TMP/nginx; scgi_temp_path $TMP/nginx;
  upstream sim { server 127.0.0.1:$SIM; keepalive 512; }
  server {
    listen 127.0.0.1:$NG;
    location / { proxy_pass http://sim; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
NGINX
nginx -c "$TMP/nginx.conf" -p "$TMP" & NG_PID=$!; PIDS+=($NG_PID)
BARE="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/bare_proxy"
"$BARE" 127.0.0.1:$BP http://127.0.0.1:$SIM --lean & BP_PID=$!; PIDS+=($BP_PID)
"$BARE" 127.0.0.1:$PC http://127.0.0.1:$SIM --per-core & PC_PID=$!; PIDS+=($PC_PID)
wait_up "http://127.0.0.1:$SIM/_sim/stats"; wait_up "http://127.0.0.1:$GW/healthz"; wait_up "http://127.0.0.1:$NG/_sim/stats"; wait_up "http://127.0.0.1:$BP/_sim/stats"; wait_up "http://127.0.0.1:$PC/_sim/stats"

LOADGEN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/loadgen"
cat > "$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
LUA

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "## Fixed rate: $RATE requests/s for $SECS s (latency from scheduled start)"
declare -A P50 P99
for target in direct gateway nginx; do
  case $target in direct) url=http://127.0.0.1:$SIM;; gateway) url=http://127.0.0.1:$GW;; nginx) url=http://127.0.0.1:$NG;; esac
  "$LOADGEN" "$url/v1/chat/completions" 200 2 "$KEY" "$BODY" >/dev/null   # warm-up
  out=$("$LOADGEN" "$url/v1/chat/completions" "$RATE" "$SECS" "$KEY" "$BODY")
  echo "$target: $out"
  P50[$target]=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['p50_ms'])" "$out")
  P99[$target]=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['p99_ms'])" "$out")
done
python3 - "${P50[direct]}" "${P99[direct]}" "${P50[gateway]}" "${P99[gateway]}" "${P50[nginx]}" "${P99[nginx]}" <<'PY'
import sys
d50, d99, g50, g99, n50, n99 = map(float, sys.argv[1:])
print(f"| path | p50 ms | p99 ms | added p50 ms | added p99 ms |")
print(f"|---|---|---|---|---|")
print(f"| direct to upstream | {d50:.3f} | {d99:.3f} | — | — |")
print(f"| through Quota Sentinel | {g50:.3f} | {g99:.3f} | {g50-d50:.3f} | {g99-d99:.3f} |")
print(f"| through nginx proxy_pass | {n50:.3f} | {n99:.3f} | {n50-d50:.3f} | {n99-d99:.3f} |")
PY

echo; echo "## Maximum requests/s (wrk -t2 -c64 -d${SECS}s, $ROUNDS alternating rounds)"
# CPU time (user + system, all threads) of processes, in clock ticks.
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
HZ=$(getconf CLK_TCK)
NGW=$(pgrep -P "$NG_PID" | tr '\n' ' ')   # nginx's workers do its work
declare -A RPS CPU SIMCPU
# One wrk run against $2: appends requests/s, and the µs of CPU per call of the processes $3…
# and of the simulator, to RPS/CPU/SIMCPU[$1].
measure() { local name=$1 url=$2; shift 2
  local s0 p0 out s1 p1 n
  s0=$(ticks "$SIM_PID"); p0=$( [ $# -gt 0 ] && ticks "$@" || echo 0 )
  out=$(wrk -t2 -c64 -d"${SECS}s" -s "$TMP/post.lua" "$url/v1/chat/completions")
  s1=$(ticks "$SIM_PID"); p1=$( [ $# -gt 0 ] && ticks "$@" || echo 0 )
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  RPS[$name]+="$(echo "$out" | awk '/Requests\/sec/ {print $2}') "
  CPU[$name]+="$(python3 -c "import sys; print(round((int(sys.argv[1]) * 1e6 / int(sys.argv[2])) / int(sys.argv[3]), 1))" $((p1 - p0)) "$HZ" "$n") "
  SIMCPU[$name]+="$(python3 -c "import sys; print(round((int(sys.argv[1]) * 1e6 / int(sys.argv[2])) / int(sys.argv[3]), 1))" $((s1 - s0)) "$HZ" "$n") "
}
NAMES=(direct gateway nginx perc lean)
for r in $(seq 1 "$ROUNDS"); do
  measure direct http://127.0.0.1:$SIM
  measure gateway http://127.0.0.1:$GW "$GW_PID"
  # shellcheck disable=SC2086
  measure nginx http://127.0.0.1:$NG $NGW
  measure perc http://127.0.0.1:$PC "$PC_PID"
  measure lean http://127.0.0.1:$BP "$BP_PID"
  line="round $r:"; for k in "${NAMES[@]}"; do line+="  $k $(echo ${RPS[$k]} | awk '{print $NF}')"; done; echo "$line"
done
med() { tr ' ' '\n' <<< "$1" | grep . | median; }
echo "| path | median requests/s | proxy CPU µs per call | simulator CPU µs per call |"; echo "|---|---|---|---|"
declare -A LABEL=([direct]="direct to upstream" [gateway]="through Quota Sentinel" [nginx]="through nginx proxy_pass"
  [perc]="through a bare axum + hyper-util proxy, thread per core" [lean]="through a bare proxy on hyper's connection APIs")
declare -A M
for k in "${NAMES[@]}"; do
  M[$k]=$(med "${RPS[$k]}")
  echo "| ${LABEL[$k]} | ${M[$k]} | $( [ "$k" = direct ] && echo — || med "${CPU[$k]}" ) | $(med "${SIMCPU[$k]}") |"
done
python3 -c "import sys; g,n,c,l=map(float,sys.argv[1:]); print(f'gateway / nginx = {g/n:.3f}; bare per core / nginx = {c/n:.3f}; bare lean / nginx = {l/n:.3f}; gateway / bare per core = {g/c:.3f}')" \
  "${M[gateway]}" "${M[nginx]}" "${M[perc]}" "${M[lean]}"

# The ledger writer's share, measured alone: it runs beside the serving threads on the same cores.
LW=()
for i in 1 2 3; do
  LW+=("$("${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/ledger_write" | python3 -c "import json,sys; print(json.load(sys.stdin)['cpu_us_per_row'])")")
done
echo "ledger writer alone: $(printf '%s\n' "${LW[@]}" | median) µs of CPU per row (median of ${LW[*]})"

echo; echo "## Memory per idle workspace"
rss_small=$(rss_kb $GW_PID)
python3 - "$TMP/many.toml" <<'PY'
import hashlib, sys
with open(sys.argv[1], "w") as f:
    for i in range(10000):
        h = hashlib.sha256(f"qs_idle_{i}".encode()).hexdigest()
        f.write(f'[[workspaces]]\nid = "ws{i}"\nkey_sha256 = ["{h}"]\n')
PY
# Three fresh starts of each (the first start after creating a database can be larger): medians.
PER=()
for i in 1 2 3; do
  GW2=$(port); GW3=$(port)
  QS_LOG=warn "$BIN" serve --config "$TMP/many.toml" --listen 127.0.0.1:$GW2 --database-url "sqlite://$TMP/many$i.db" \
    --upstream-url http://127.0.0.1:$SIM/v1 & GW2_PID=$!; PIDS+=($GW2_PID)
  QS_LOG=warn "$BIN" serve --listen 127.0.0.1:$GW3 --database-url "sqlite://$TMP/none$i.db" \
    --upstream-url http://127.0.0.1:$SIM/v1 & GW3_PID=$!; PIDS+=($GW3_PID)
  wait_up "http://127.0.0.1:$GW2/healthz"; wait_up "http://127.0.0.1:$GW3/healthz"
  sleep 1
  rss_many=$(rss_kb $GW2_PID); rss_none=$(rss_kb $GW3_PID)
  kill $GW2_PID $GW3_PID 2>/dev/null || true
  echo "start $i: RSS idle with 0 workspaces: ${rss_none} KiB; with 10,000: ${rss_many} KiB"
  PER+=("$(( (rss_many - rss_none) * 1024 / 10000 ))")
done
echo "RSS after the load above (1 workspace): ${rss_small} KiB"
echo "per idle workspace: $(printf '%s\n' "${PER[@]}" | median) bytes (median of ${PER[*]})"

echo; echo "## Web UI"
SITE=${LEPTOS_SITE_ROOT:-$ROOT/target/site}
WASM=$(ls "$SITE"/pkg/*.wasm 2>/dev/null | head -1)
if [ -n "$WASM" ]; then
  raw=$(stat -c %s "$WASM"); gz=$(gzip -9 -c "$WASM" | wc -c); br=$(brotli -q 11 -c "$WASM" | wc -c)
  echo "| WASM ($(basename "$WASM")) | raw $raw bytes | gzip -9 $gz bytes | brotli -q 11 $br bytes |"
else
  echo "no WASM under $SITE/pkg: build with cargo leptos first" >&2
fi
# Server render of /admin with 1,000 workspaces, signed in as admin: 25 GETs, the first 5 dropped.
python3 - "$TMP/ui.toml" <<'PY'
import hashlib, sys
with open(sys.argv[1], "w") as f:
    for i in range(1000):
        h = hashlib.sha256(f"qs_ui_{i}".encode()).hexdigest()
        f.write(f'[[workspaces]]\nid = "ws{i}"\nname = "Workspace {i}"\nkey_sha256 = ["{h}"]\n')
PY
GW4=$(port); ADMIN=qs_bench_admin_key_0123456789
QUOTA_ADMIN_KEY=$ADMIN QS_LOG=warn LEPTOS_SITE_ROOT="$SITE" "$BIN" serve --config "$TMP/ui.toml" --listen 127.0.0.1:$GW4 \
  --database-url "sqlite://$TMP/ui.db" --upstream-url http://127.0.0.1:$SIM/v1 & PIDS+=($!)
wait_up "http://127.0.0.1:$GW4/healthz"
curl -sf -c "$TMP/jar" -H 'content-type: application/json' -d "{\"key\":\"$ADMIN\"}" "http://127.0.0.1:$GW4/api/session" >/dev/null
times=(); bytes=0
for i in $(seq 1 25); do
  out=$(curl -s -b "$TMP/jar" -o "$TMP/admin.html" -w '%{http_code} %{time_total}' "http://127.0.0.1:$GW4/admin")
  [ "${out%% *}" = 200 ] || { echo "GET /admin answered ${out%% *}" >&2; exit 1; }
  [ "$i" -gt 5 ] && times+=("${out##* }")
done
bytes=$(stat -c %s "$TMP/admin.html")
printf '%s\n' "${times[@]}" | python3 -c "import sys, statistics as s; t=[float(x)*1000 for x in sys.stdin]; print(f'| server render of /admin, 1,000 workspaces ($bytes bytes of HTML) | median {s.median(t):.1f} ms | max {max(t):.1f} ms | {len(t)} requests after 5 warm-up |')"
