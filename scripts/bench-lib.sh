# Helpers shared by the benchmark scripts (sourced, never run): free ports, waiting for a server,
# medians, processes' CPU time, one oha run at a fixed rate, and one wrk run that records
# requests/s and CPU µs per call.
# shellcheck shell=bash

# Kills the processes in PIDS and removes $TMP (the callers' `trap cleanup EXIT`).
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }

# shellcheck source=scripts/proc-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/proc-lib.sh"
# A free TCP port on 127.0.0.1.
port() { free_port; }
# Waits until $1 answers (at most 10 s).
wait_up() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "not up: $1" >&2; exit 1; }
# The median of the numbers on stdin, one per line.
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# The median of the space-separated numbers in $1.
med() { tr ' ' '\n' <<< "$1" | grep . | median; }
# CPU time (user + system, all threads) of the processes $@, in clock ticks.
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
# The last word of $1.
last() { echo $1 | awk '{print $NF}'; }
HZ=$(getconf CLK_TCK)
OHA=${OHA:-$HOME/.cache/quota-sentinel/tools/bin/oha}

# oha_run PORT: one oha run of $RATE calls/s for $SECS s (16 connections) posting $BODY with
# $KEY to PORT's chat completions; prints "p50 p99 p99.9" in µs of the successful calls (a
# failed call fails the bench).
oha_run() {
  "$OHA" -q "$RATE" -n "$((RATE * SECS))" -c 16 --no-tui --output-format json -m POST \
    -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" -d "$BODY" \
    "http://127.0.0.1:$1/v1/chat/completions" > "$TMP/oha.json"
  python3 - "$TMP/oha.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
codes = r.get("statusCodeDistribution", {})
bad = {k: v for k, v in codes.items() if k != "200"}
errors = r.get("errorDistribution") or {}
if bad or errors or r["summary"].get("successRate", 1) < 1:
    sys.exit(f"oha saw failures: {codes} {errors}")
p = r["latencyPercentiles"]
print(" ".join(f"{p[k] * 1e6:.1f}" for k in ("p50", "p99", "p99.9")))
PY
}

# oha_warm PORT: 500 calls at 500/s (connections, caches, scripts loaded), results discarded.
oha_warm() {
  "$OHA" -q 500 -n 500 -c 16 --no-tui --output-format json -m POST -H "Authorization: Bearer $KEY" \
    -H "Content-Type: application/json" -d "$BODY" "http://127.0.0.1:$1/v1/chat/completions" >/dev/null
}

# wrk_cpu NAME PID URL LUA SECS: one wrk -t2 -c64 run of LUA against URL; appends its requests/s
# to RPS[NAME], the µs of CPU per call of process PID to CPU[NAME] and any non-2xx count to
# NON200[NAME] (associative arrays the caller declares).
wrk_cpu() { local name=$1 pid=$2 url=$3 lua=$4 secs=$5 t0 t1 out n
  t0=$(ticks "$pid")
  out=$(wrk -t2 -c64 -d"${secs}s" -s "$lua" "$url")
  t1=$(ticks "$pid")
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  NON200[$name]+="$(echo "$out" | awk '/Non-2xx/ {print $NF}') "
  RPS[$name]+="$(echo "$out" | awk '/Requests\/sec/ {print $2}') "
  CPU[$name]+="$(python3 -c "import sys; print(round((int(sys.argv[1]) * 1e6 / int(sys.argv[2])) / int(sys.argv[3]), 1))" $((t1 - t0)) "$HZ" "$n") "
}

# rotated_rounds LUA NAME...: a 2 s warm-up of each gateway NAME, then $ROUNDS rounds of wrk_cpu
# against each (GW_PID[NAME], GW_PORT[NAME], $SECS seconds), the order rotated each round so that
# no gateway always runs right after another's ledger flush; one line per round.
rotated_rounds() { local lua=$1; shift; local names=("$@") n=$# r i k line
  for k in "${names[@]}"; do
    wrk -t2 -c64 -d2s -s "$lua" "http://127.0.0.1:${GW_PORT[$k]}/v1/chat/completions" >/dev/null
  done
  for r in $(seq 1 "$ROUNDS"); do
    line="round $r:"
    for i in $(seq 0 $((n - 1))); do
      k=${names[$(( (i + r - 1) % n ))]}
      wrk_cpu "$k" "${GW_PID[$k]}" "http://127.0.0.1:${GW_PORT[$k]}/v1/chat/completions" "$lua" "$SECS"
      line+="  $k $(last "${RPS[$k]}") req/s $(last "${CPU[$k]}") µs/call;"
    done
    echo "$line"
  done
}

# all_2xx NAME...: stops the script when a run of these gateways got a non-2xx answer (the
# figures would not be comparable).
all_2xx() { local k seen="" which=""
  for k in "$@"; do seen+="${NON200[$k]}"; which+="$k: ${NON200[$k]}; "; done
  if [ -n "$(echo $seen)" ]; then
    echo "non-2xx answers seen ($which): the figures are not comparable" >&2; exit 1
  fi
}

# start_gateway NAME BIN CONFIG SIM_PORT: `BIN serve` with CONFIG on a free port in front of the
# simulator, its own SQLite in $TMP; sets GW_PORT[NAME] and GW_PID[NAME], adds it to PIDS. The
# caller waits for it (wait_up …/healthz).
start_gateway() { local name=$1 bin=$2 config=$3 sim=$4
  GW_PORT[$name]=$(port)
  QUOTA_ADMIN_KEY=qs_bench_admin_key_0123456789 QS_LOG=warn OPENAI_API_KEY=sk-bench "$bin" serve --config "$config" \
    --listen "127.0.0.1:${GW_PORT[$name]}" --database-url "sqlite://$TMP/$name.db" --upstream-url "http://127.0.0.1:$sim/v1" &
  GW_PID[$name]=$!; PIDS+=($!)
}

# row LABEL NAME: one table row of the medians of gateway NAME's rounds.
row() { echo "| $1 | $(med "${RPS[$2]}") | $(med "${CPU[$2]}") | ${CPU[$2]}|"; }

# wait_long URL SECS: waits until URL answers, at most SECS seconds (a gateway with many
# workspaces takes longer to start than wait_up allows); fails the script after that.
wait_long() { local deadline=$(( $(date +%s) + $2 ))
  until curl -s -o /dev/null "$1"; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "not up after $2 s: $1" >&2; exit 1; }
    sleep 0.02
  done
}

# many_toml FILE N [NAMED]: N idle workspaces `ws0` … with a key each (and a name with NAMED).
many_toml() {
  python3 - "$1" "$2" "${3:-}" <<'PY'
import hashlib, sys
path, n, named = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "named"
with open(path, "w") as f:
    for i in range(n):
        h = hashlib.sha256(f"qs_idle_{i}".encode()).hexdigest()
        name = f'name = "Workspace {i}"\n' if named else ""
        f.write(f'[[workspaces]]\nid = "ws{i}"\n{name}key_sha256 = ["{h}"]\n')
PY
}

# ledger_rows DB N WORKSPACES: N ledger rows in SQLite DB (a gateway made its schema), spread
# over workspaces ws0 … and the last 20 days (none in the last minute: idle minute windows).
ledger_rows() {
  local now_ms; now_ms=$(( $(date +%s) * 1000 ))
  sqlite3 "$1" "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < $2 - 1)
    INSERT INTO ledger (ts_ms, workspace, key_id, family, model, http_status, input_tokens,
                        output_tokens, cost_nanos, latency_ms)
    SELECT $now_ms - 120000 - (i * 7919) % (20 * 86400000), 'ws' || (i % $3), 'cfg_bench', 'chat',
           'gpt-4o-mini', 200, 100, 20, 27000, 100 FROM c;"
}
