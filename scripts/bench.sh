#!/usr/bin/env bash
# Measures the figures of BENCHMARKS.md side by side in one run, all on 127.0.0.1:
#  1. latency at a fixed 1,000 requests/s (oha -q, 16 connections, 3 alternating rounds): direct, nginx,
#     the two bare proxies and the gateway; p50/p99/p99.9 and the gateway's distance to the bare floor;
#  1b. streams with a chunk every 20 ms: time to first byte and each chunk's transit (stamped by the
#     simulator), direct vs through the gateway (examples/stream_probe.rs);
#  2. maximum requests/s (wrk, 64 connections) through the gateway vs nginx proxy_pass, 3 alternating rounds,
#     with two bare proxies (examples/bare_proxy.rs) as floors of the gateway's HTTP stack: axum + hyper-util
#     served thread per core like the gateway (`--per-core`), and hyper's connection APIs alone (`--lean`);
#     and the CPU time each proxy and the simulator spend per call in those rounds;
#     and the ledger writer's CPU per row on its own (examples/ledger_write.rs, median of three runs);
#  3. many workspaces: memory per idle workspace (RSS with $BENCH_MANY = 100,000 workspaces vs
#     none) and the start-up with that many and 200,000 ledger rows to rebuild counters from,
#     medians of three starts; with BENCH_BEFORE=PATH/TO/an-earlier-build, that build side by side;
#  4. Web UI: WASM sizes, server render of /admin with 1,000 and with 100,000 workspaces.
# Usage: scripts/bench.sh PATH/TO/quota-sentinel     (make bench builds it and calls this)
#        BENCH_ONLY=many [BENCH_BEFORE=OLD_BIN] scripts/bench.sh BIN   (steps 3 and 4 only)
set -euo pipefail
BIN=${1:?usage: bench.sh BIN}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
PIDS=()
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"
trap cleanup EXIT
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
KEY=qs_bench_key_0123456789
HASH=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello benchmark"}],"max_tokens":16}'
RATE=${BENCH_RATE:-1000}; SECS=${BENCH_SECONDS:-10}; ROUNDS=${BENCH_ROUNDS:-3}

SIM=$(port); GW=$(port); NG=$(port); BP=$(port); PC=$(port); SSIM=$(port); SGW=$(port); SPC=$(port)
QS_LOG=warn "$BIN" simulate --sim-listen 127.0.0.1:$SIM & SIM_PID=$!; PIDS+=($SIM_PID)
# A second simulator for streams: a chunk every 20 ms, each stamped with the time it left.
QS_LOG=warn "$BIN" simulate --sim-listen 127.0.0.1:$SSIM --sim-stream-chunk-delay-ms 20 --sim-stamp-stream-events & PIDS+=($!)
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
QS_LOG=warn OPENAI_API_KEY=sk-bench "$BIN" serve --config "$TMP/qs.toml" --listen 127.0.0.1:$SGW \
  --database-url "sqlite://$TMP/qs-stream.db" --upstream-url http://127.0.0.1:$SSIM/v1 & PIDS+=($!)
BARE="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/bare_proxy"
"$BARE" 127.0.0.1:$BP http://127.0.0.1:$SIM --lean & BP_PID=$!; PIDS+=($BP_PID)
"$BARE" 127.0.0.1:$PC http://127.0.0.1:$SIM --per-core & PC_PID=$!; PIDS+=($PC_PID)
"$BARE" 127.0.0.1:$SPC http://127.0.0.1:$SSIM --per-core & PIDS+=($!)   # the streams' floor
wait_up "http://127.0.0.1:$SSIM/_sim/stats"; wait_up "http://127.0.0.1:$SGW/healthz"; wait_up "http://127.0.0.1:$SPC/_sim/stats"
wait_up "http://127.0.0.1:$SIM/_sim/stats"; wait_up "http://127.0.0.1:$GW/healthz"; wait_up "http://127.0.0.1:$NG/_sim/stats"; wait_up "http://127.0.0.1:$BP/_sim/stats"; wait_up "http://127.0.0.1:$PC/_sim/stats"

cat > "$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
LUA

# BENCH_ONLY=many: steps 3 and 4 alone (many workspaces, Web UI).
if [ "${BENCH_ONLY:-}" != many ]; then
echo "## Fixed rate: oha -q $RATE -n $((RATE * SECS)) -c 16, $ROUNDS alternating rounds (µs, medians of the rounds)"
declare -A L50 L99 L999
LAT_NAMES=(direct nginx lean perc gateway)
declare -A LAT_URL=([direct]=$SIM [nginx]=$NG [lean]=$BP [perc]=$PC [gateway]=$GW)
for name in "${LAT_NAMES[@]}"; do oha_warm "${LAT_URL[$name]}"; done   # connections, caches
for r in $(seq 1 "$ROUNDS"); do
  line="round $r (p50 µs):"
  for name in "${LAT_NAMES[@]}"; do
    read -r a b c < <(oha_run "${LAT_URL[$name]}")
    L50[$name]+="$a "; L99[$name]+="$b "; L999[$name]+="$c "
    line+="  $name $a"
  done
  echo "$line"
done
declare -A LAT_LABEL=([direct]="direct to upstream" [nginx]="through nginx proxy_pass"
  [lean]="through a bare proxy on hyper's connection APIs" [perc]="through a bare axum + hyper-util proxy, thread per core"
  [gateway]="through Quota Sentinel")
echo "| path | p50 µs | p99 µs | p99.9 µs | added p50 µs | added p99 µs |"; echo "|---|---|---|---|---|---|"
declare -A M50 M99 M999
for name in "${LAT_NAMES[@]}"; do
  M50[$name]=$(med "${L50[$name]}"); M99[$name]=$(med "${L99[$name]}"); M999[$name]=$(med "${L999[$name]}")
done
for name in "${LAT_NAMES[@]}"; do
  python3 -c "import sys; n,a,b,c,d50,d99=sys.argv[1],*map(float,sys.argv[2:]); print(f'| {n} | {a:.0f} | {b:.0f} | {c:.0f} | ' + ('— | — |' if n.startswith('direct') else f'{a-d50:.0f} | {b-d99:.0f} |'))" \
    "${LAT_LABEL[$name]}" "${M50[$name]}" "${M99[$name]}" "${M999[$name]}" "${M50[direct]}" "${M99[direct]}"
done
python3 -c "import sys; g,p,l=map(float,sys.argv[1:]); print(f'gateway − bare axum floor at p50: {g-p:.0f} µs (goal ≤ 15 µs); gateway − lean floor: {g-l:.0f} µs')" \
  "${M50[gateway]}" "${M50[perc]}" "${M50[lean]}"

echo; echo "## Streams: a chunk every 20 ms (stream_probe, 200 streams 10 at a time, $ROUNDS alternating rounds of direct, bare floor, gateway; ms)"
PROBE="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/stream_probe"
declare -A T50 T99 S50 S99 S999 SMAX
for r in $(seq 1 "$ROUNDS"); do
  for name in direct floor gateway; do
    case $name in direct) port=$SSIM;; floor) port=$SPC;; gateway) port=$SGW;; esac
    out=$("$PROBE" "http://127.0.0.1:$port/v1/chat/completions" "$KEY" 200 10)
    echo "round $r $name: $out"
    read -r a b c d e f < <(python3 -c "import json,sys; r=json.loads(sys.argv[1]); assert r['ok']==r['streams'], r; t,s=r['ttfb_ms'],r['transit_ms']; print(t['p50'],t['p99'],s['p50'],s['p99'],s['p999'],s['max'])" "$out")
    T50[$name]+="$a "; T99[$name]+="$b "; S50[$name]+="$c "; S99[$name]+="$d "; S999[$name]+="$e "; SMAX[$name]+="$f "
  done
done
echo "| path | first byte p50 | first byte p99 | chunk transit p50 | p99 | p99.9 | max |"; echo "|---|---|---|---|---|---|---|"
for name in direct floor gateway; do
  echo "| $name | $(med "${T50[$name]}") | $(med "${T99[$name]}") | $(med "${S50[$name]}") | $(med "${S99[$name]}") | $(med "${S999[$name]}") | $(med "${SMAX[$name]}") |"
done
python3 -c "import sys; v=list(map(float,sys.argv[1:])); print(f'added by the gateway: first byte p50 {v[0]-v[1]:.3f} ms, p99 {v[2]-v[3]:.3f} ms; chunk transit p50 {v[4]-v[5]:.3f} ms, p99 {v[6]-v[7]:.3f} ms (target ≤ 1 ms at p99); slowest chunk through the gateway {v[8]:.3f} ms (a chunk held for the next one would take ≥ 20 ms); the bare floor adds {v[9]-v[1]:.3f} ms to the first byte at p50, {v[10]-v[3]:.3f} ms at p99')" \
  "$(med "${T50[gateway]}")" "$(med "${T50[direct]}")" "$(med "${T99[gateway]}")" "$(med "${T99[direct]}")" \
  "$(med "${S50[gateway]}")" "$(med "${S50[direct]}")" "$(med "${S99[gateway]}")" "$(med "${S99[direct]}")" \
  "$(tr ' ' '\n' <<< "${SMAX[gateway]}" | grep . | sort -n | tail -1)" "$(med "${T50[floor]}")" "$(med "${T99[floor]}")"

echo; echo "## Maximum requests/s (wrk -t2 -c64 -d${SECS}s, $ROUNDS alternating rounds)"
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
python3 -c "import sys; g,p=map(float,sys.argv[1:]); print(f'metering CPU per call over the bare axum + hyper floor: {g:.1f} − {p:.1f} = {g-p:.1f} µs (goal ≤ 10 µs)')" \
  "$(med "${CPU[gateway]}")" "$(med "${CPU[perc]}")"

# The ledger writer's share, measured alone: it runs beside the serving threads on the same cores.
LW=()
for i in 1 2 3; do
  LW+=("$("${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/ledger_write" | python3 -c "import json,sys; print(json.load(sys.stdin)['cpu_us_per_row'])")")
done
echo "ledger writer alone: $(printf '%s\n' "${LW[@]}" | median) µs of CPU per row (median of ${LW[*]})"

fi

echo; echo "## Many workspaces: memory per idle workspace, start-up with counter rebuild"
rss_small=$(rss_kb $GW_PID)
MANY=${BENCH_MANY:-100000}
many_toml "$TMP/many.toml" "$MANY"
# Builds compared side by side: this one, and $BENCH_BEFORE (an earlier build) if set.
BUILDS=(now); declare -A BUILD_BIN=([now]=$BIN)
if [ -n "${BENCH_BEFORE:-}" ]; then BUILDS+=(before); BUILD_BIN[before]=$BENCH_BEFORE; fi
# A database with $MANY workspaces' ledger: 2 rows per workspace over the last 20 days.
GW5=$(port)
QS_LOG=warn "$BIN" serve --config "$TMP/many.toml" --listen 127.0.0.1:$GW5 --database-url "sqlite://$TMP/ledger.db" \
  --upstream-url http://127.0.0.1:$SIM/v1 & GW5_PID=$!; PIDS+=($GW5_PID)
wait_long "http://127.0.0.1:$GW5/healthz" 120
kill $GW5_PID; wait $GW5_PID 2>/dev/null || true
ledger_rows "$TMP/ledger.db" $(( 2 * MANY )) "$MANY"
declare -A PER_WS UP_MS
# Three rounds; in each, every build: RSS idle with $MANY workspaces vs none (fresh databases),
# then the time from exec to a first /healthz answer with $MANY workspaces and the ledger above.
for i in 1 2 3; do
  for b in "${BUILDS[@]}"; do
    bin=${BUILD_BIN[$b]}
    GW2=$(port); GW3=$(port)
    QS_LOG=warn "$bin" serve --config "$TMP/many.toml" --listen 127.0.0.1:$GW2 --database-url "sqlite://$TMP/many-$b$i.db" \
      --upstream-url http://127.0.0.1:$SIM/v1 & GW2_PID=$!; PIDS+=($GW2_PID)
    wait_long "http://127.0.0.1:$GW2/healthz" 120
    QS_LOG=warn "$bin" serve --listen 127.0.0.1:$GW3 --database-url "sqlite://$TMP/none-$b$i.db" \
      --upstream-url http://127.0.0.1:$SIM/v1 & GW3_PID=$!; PIDS+=($GW3_PID)
    wait_long "http://127.0.0.1:$GW3/healthz" 60
    sleep 2
    rss_many=$(rss_kb $GW2_PID); rss_none=$(rss_kb $GW3_PID)
    kill $GW2_PID $GW3_PID 2>/dev/null || true; wait $GW2_PID $GW3_PID 2>/dev/null || true
    PER_WS[$b]+="$(( (rss_many - rss_none) * 1024 / MANY )) "
    cp "$TMP/ledger.db" "$TMP/up-$b$i.db"
    GW6=$(port); t0=$(date +%s%N)
    QS_LOG=warn "$bin" serve --config "$TMP/many.toml" --listen 127.0.0.1:$GW6 --database-url "sqlite://$TMP/up-$b$i.db" \
      --upstream-url http://127.0.0.1:$SIM/v1 & GW6_PID=$!; PIDS+=($GW6_PID)
    wait_long "http://127.0.0.1:$GW6/healthz" 120
    UP_MS[$b]+="$(( ($(date +%s%N) - t0) / 1000000 )) "
    kill $GW6_PID; wait $GW6_PID 2>/dev/null || true
    echo "round $i, $b: RSS idle with 0 workspaces ${rss_none} KiB, with $MANY ${rss_many} KiB; up with $MANY and $(( 2 * MANY )) ledger rows in $(last "${UP_MS[$b]}") ms"
  done
done
echo "RSS after the load above (1 workspace): ${rss_small} KiB"
for b in "${BUILDS[@]}"; do
  echo "| $b: memory per idle workspace, $MANY workspaces | $(med "${PER_WS[$b]}") bytes | ${PER_WS[$b]}|"
  echo "| $b: start-up to /healthz, $MANY workspaces, $(( 2 * MANY )) ledger rows | $(med "${UP_MS[$b]}") ms | ${UP_MS[$b]}|"
done

echo; echo "## Web UI"
SITE=${LEPTOS_SITE_ROOT:-$ROOT/target/site}
WASM=$(ls "$SITE"/pkg/*.wasm 2>/dev/null | head -1)
if [ -n "$WASM" ]; then
  raw=$(stat -c %s "$WASM"); gz=$(gzip -9 -c "$WASM" | wc -c); br=$(brotli -q 11 -c "$WASM" | wc -c)
  echo "| WASM ($(basename "$WASM")) | raw $raw bytes | gzip -9 $gz bytes | brotli -q 11 $br bytes |"
else
  echo "no WASM under $SITE/pkg: build with cargo leptos first" >&2
fi
# Server render of /admin (the first page of 50 and the overview over every workspace) with
# 1,000 and with $MANY workspaces, signed in as admin: 25 GETs each, the first 5 dropped.
ADMIN=qs_bench_admin_key_0123456789
for n in 1000 "$MANY"; do
  many_toml "$TMP/ui$n.toml" "$n" named
  GW4=$(port)
  QUOTA_ADMIN_KEY=$ADMIN QS_LOG=warn LEPTOS_SITE_ROOT="$SITE" "$BIN" serve --config "$TMP/ui$n.toml" --listen 127.0.0.1:$GW4 \
    --database-url "sqlite://$TMP/ui$n.db" --upstream-url http://127.0.0.1:$SIM/v1 & GW4_PID=$!; PIDS+=($GW4_PID)
  wait_long "http://127.0.0.1:$GW4/healthz" 120
  curl -sf -c "$TMP/jar" -H 'content-type: application/json' -d "{\"key\":\"$ADMIN\"}" "http://127.0.0.1:$GW4/api/session" >/dev/null
  times=(); bytes=0
  for i in $(seq 1 25); do
    out=$(curl -s -b "$TMP/jar" -o "$TMP/admin.html" -w '%{http_code} %{time_total}' "http://127.0.0.1:$GW4/admin")
    [ "${out%% *}" = 200 ] || { echo "GET /admin answered ${out%% *}" >&2; exit 1; }
    [ "$i" -gt 5 ] && times+=("${out##* }")
  done
  bytes=$(stat -c %s "$TMP/admin.html")
  printf '%s\n' "${times[@]}" | python3 -c "import sys, statistics as s; t=[float(x)*1000 for x in sys.stdin]; print(f'| server render of /admin, $n workspaces ($bytes bytes of HTML) | median {s.median(t):.1f} ms | max {max(t):.1f} ms | {len(t)} requests after 5 warm-up |')"
  kill $GW4_PID; wait $GW4_PID 2>/dev/null || true
done
