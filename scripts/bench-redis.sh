#!/usr/bin/env bash
# Shared state's cost, side by side in one run, all on 127.0.0.1 (BENCHMARKS.md, "Shared state"):
# one simulator; a gateway with in-process counters and one with --redis-url (a private
# redis-server); the bench workspace has a minute, a day and a USD limit, so that admission
# checks every window. Alternating rounds of oha at a fixed rate give p50/p99 of each path and
# the CPU per call of each gateway (user + system, every thread) and of redis-server; Redis's
# own command counts give the round trips per call. Then the cross-instance notification latency
# (examples/fanout_latency.rs, three runs on a second database of the same redis-server).
# Usage: scripts/bench-redis.sh PATH/TO/quota-sentinel     (make bench calls it)
set -euo pipefail
BIN=${1:?usage: bench-redis.sh BIN}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
PIDS=()
# shellcheck source=scripts/bench-lib.sh
. "$ROOT/scripts/bench-lib.sh"
trap cleanup EXIT
KEY=qs_bench_key_0123456789
HASH=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
BODY='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello benchmark"}],"max_tokens":16}'
RATE=${BENCH_RATE:-1000}; SECS=${BENCH_SECONDS:-10}; ROUNDS=${BENCH_ROUNDS:-3}

SIM=$(port); LOCAL=$(port); SHARED=$(port); REDIS=$(port)
QS_LOG=warn "$BIN" simulate --sim-listen 127.0.0.1:$SIM & PIDS+=($!)
redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$TMP/redis.pid" --logfile "$TMP/redis.log" --dir "$TMP" >/dev/null
for _ in $(seq 50); do redis-cli -p "$REDIS" ping >/dev/null 2>&1 && break; sleep 0.1; done
REDIS_PID=$(cat "$TMP/redis.pid"); PIDS+=("$REDIS_PID")
cat > "$TMP/qs.toml" <<TOML
[[workspaces]]
id = "bench"
key_sha256 = ["$HASH"]
requests_per_minute = 100000000
requests_per_day = 1000000000
tokens_per_minute = 1000000000
budget_usd_per_day = 1000000.0
TOML
QS_LOG=warn OPENAI_API_KEY=sk-bench "$BIN" serve --config "$TMP/qs.toml" --listen 127.0.0.1:$LOCAL \
  --database-url "sqlite://$TMP/local.db" --upstream-url http://127.0.0.1:$SIM/v1 & LOCAL_PID=$!; PIDS+=($LOCAL_PID)
QS_LOG=warn OPENAI_API_KEY=sk-bench "$BIN" serve --config "$TMP/qs.toml" --listen 127.0.0.1:$SHARED \
  --database-url "sqlite://$TMP/shared.db" --upstream-url http://127.0.0.1:$SIM/v1 \
  --redis-url "redis://127.0.0.1:$REDIS/0" & SHARED_PID=$!; PIDS+=($SHARED_PID)
wait_up "http://127.0.0.1:$SIM/_sim/stats"; wait_up "http://127.0.0.1:$LOCAL/healthz"; wait_up "http://127.0.0.1:$SHARED/healthz"

evals() { redis-cli -p "$REDIS" info commandstats | awk -F'[=,:]' '/^cmdstat_(evalsha|eval|publish)/ {n += $3} END {print n + 0}'; }
for p in $LOCAL $SHARED; do oha_warm "$p"; done   # connections, the scripts loaded
sleep 1
declare -A P50 P99 CPU
RCPU=""; TRIPS=""
N=$((RATE * SECS))
for r in $(seq 1 "$ROUNDS"); do
  for name in local shared; do
    if [ $name = local ]; then p=$LOCAL; pid=$LOCAL_PID; else p=$SHARED; pid=$SHARED_PID; fi
    t0=$(ticks "$pid"); r0=$(ticks "$REDIS_PID"); e0=$(evals)
    read -r a b _ < <(oha_run "$p")
    sleep 1   # settlements after the last answers
    t1=$(ticks "$pid"); r1=$(ticks "$REDIS_PID"); e1=$(evals)
    P50[$name]+="$a "; P99[$name]+="$b "
    CPU[$name]+="$(python3 -c "print(f'{($t1 - $t0) * 1e6 / $HZ / $N:.1f}')") "
    if [ $name = shared ]; then
      RCPU+="$(python3 -c "print(f'{($r1 - $r0) * 1e6 / $HZ / $N:.1f}')") "
      TRIPS+="$(python3 -c "print(f'{($e1 - $e0) / $N:.3f}')") "
    fi
    echo "round $r $name: p50 $a µs, p99 $b µs"
  done
done
echo
echo "## Shared state: oha -q $RATE -n $N -c 16, $ROUNDS alternating rounds (medians)"
echo "| path | p50 µs | p99 µs | gateway CPU µs/call | redis-server CPU µs/call | Redis scripts per call |"
echo "|---|---|---|---|---|---|"
echo "| in-process counters | $(med "${P50[local]}") | $(med "${P99[local]}") | $(med "${CPU[local]}") | — | — |"
echo "| Redis shared state | $(med "${P50[shared]}") | $(med "${P99[shared]}") | $(med "${CPU[shared]}") | $(med "$RCPU") | $(med "$TRIPS") |"
echo "(rounds: local p50 ${P50[local]}| shared p50 ${P50[shared]}| local CPU ${CPU[local]}| shared CPU ${CPU[shared]}| redis CPU $RCPU| scripts/call $TRIPS)"

echo
echo "## Cross-instance notification latency (fanout_latency: 100 status changes through B, 20 ms apart, seen on a WebSocket on A; 3 runs)"
kill "$LOCAL_PID" "$SHARED_PID" 2>/dev/null || true   # idle, but they would hear the announcements
FAN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/fanout_latency"
F50=""; F99=""; FMAX=""
for r in 1 2 3; do
  out=$("$FAN" "$BIN" "redis://127.0.0.1:$REDIS/1" 100 20)
  echo "run $r: $out"
  read -r a b c < <(python3 -c "import json,sys; m=json.loads(sys.argv[1])['ms']; print(m['p50'], m['p99'], m['max'])" "$out")
  F50+="$a "; F99+="$b "; FMAX+="$c "
done
echo "| path | p50 ms | p99 ms | max ms |"
echo "|---|---|---|---|"
echo "| status caused through B, seen on a WebSocket on A (medians of 3 runs) | $(med "$F50") | $(med "$F99") | $(med "$FMAX") |"
