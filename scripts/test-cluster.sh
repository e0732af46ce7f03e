#!/usr/bin/env bash
# Tests scripts/cluster.sh (make cluster) end to end: starts it with the simulator on a free
# nginx port, waits for its "Point an SDK" lines, then, through nginx: chat calls with the
# official openai SDK (plain and streamed), a WebSocket upgrade of /api/quota/ws, /healthz of
# nginx and of each gateway (PostgreSQL and Redis, both reachable), and the workspace's
# requests_day in GET /api/quota/status equal to the calls made. Then SIGTERM: cluster.sh must
# exit 0 with nothing it started left running (gateways, simulator, PostgreSQL, Redis, nginx)
# and its temp folder removed. Run by `make test` after the release build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/proc-lib.sh
. "$root/scripts/proc-lib.sh"
log() { printf '[test-cluster] %s\n' "$*" >&2; }
t0=$EPOCHREALTIME
out=$(mktemp /tmp/qs-test-cluster.XXXXXX)
cluster_pid=
show_output() {
  printf -- '--- scripts/cluster.sh output ---\n' >&2
  cat "$out" >&2
}
fail() {
  printf '[test-cluster] FAILED: %s\n' "$*" >&2
  show_output
  exit 1
}
cleanup() {
  local rc=$?
  if [ -n "$cluster_pid" ] && kill -0 "$cluster_pid" 2>/dev/null; then
    kill -TERM "$cluster_pid" 2>/dev/null || true
    for _ in $(seq 600); do
      kill -0 "$cluster_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$cluster_pid" 2>/dev/null || true
  fi
  rm -f "$out"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python=$root/.venv/bin/python
if ! [ -x "$python" ] || ! "$python" -c 'import openai' 2>/dev/null; then
  fail "no .venv with the openai SDK: run scripts/ensure-tools.sh test"
fi
port=$(free_port)

# 1. Start the cluster and wait for it.
log "starting scripts/cluster.sh (simulator, nginx on 127.0.0.1:$port)"
QS_CLUSTER_SIMULATE=1 QS_CLUSTER_PORT=$port scripts/cluster.sh >"$out" 2>&1 </dev/null &
cluster_pid=$!
deadline=$((SECONDS + 60))
until grep -q '^Point an SDK at it:' "$out"; do
  kill -0 "$cluster_pid" 2>/dev/null || fail "scripts/cluster.sh exited before it was ready"
  [ $SECONDS -lt $deadline ] || fail "scripts/cluster.sh printed no 'Point an SDK' line within 60 s"
  sleep 0.2
done
sleep 0.2 # the rest of the block
ready=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
value() { sed -n "s/^ *$1=//p" "$out" | head -n1; }
base_url=$(value OPENAI_BASE_URL)
ws_key=$(value OPENAI_API_KEY)
admin_key=$(value QUOTA_ADMIN_KEY)
dir=$(sed -n 's/^Logs: \([^ ]*\) .*/\1/p' "$out")
read -r -a gateways <<<"$(sed -n 's/^Gateways: //p' "$out")"
base="http://127.0.0.1:$port"
[ "$base_url" = "$base/v1" ] || fail "OPENAI_BASE_URL is '$base_url', not $base/v1"
[[ "$ws_key" == qs_* ]] || fail "no workspace key (OPENAI_API_KEY=qs_…) printed"
[ -n "$admin_key" ] || fail "no admin key printed"
grep -q "^Web UI: $base/admin" "$out" || fail "no Web UI line with $base/admin"
[ ${#gateways[@]} -eq 3 ] || fail "expected 3 gateway addresses, got '${gateways[*]}'"
[ -d "$dir" ] || fail "the logs folder '$dir' does not exist"
log "ready after $ready s: $base, gateways ${gateways[*]}, logs in $dir"

# Everything cluster.sh started, by pid and start time, for the check after the stop: its
# descendants, and PostgreSQL's postmaster (pg_ctl detaches it) with its children.
# (A zombie, exited but not yet reaped by its parent, has none: it runs no more.)
[ -s "$dir/pg/postmaster.pid" ] || fail "no PostgreSQL postmaster.pid in $dir/pg"
postmaster=$(head -n1 "$dir/pg/postmaster.pid")
qs_comm=$(basename "${QS_BIN:-quota-sentinel}" | cut -c1-15) # QS_BIN: see scripts/cluster.sh
started=()
declare -A kinds=()
while read -r p; do
  [ "$p" = "$cluster_pid" ] && continue
  comm=$(ps -o comm= -p "$p" 2>/dev/null) || continue
  case "$comm" in
    "$qs_comm") comm=quota-sentinel ;;
    postgres | redis-server | nginx) ;;
    *) continue ;;
  esac
  started+=("$p:$(start_time "$p"):$comm")
  kinds[$comm]=$((${kinds[$comm]:-0} + 1))
done < <(family "$cluster_pid" "$postmaster")
# 3 gateways + the simulator; the postmaster and its helpers; Redis; nginx's master and workers.
[ "${kinds[quota-sentinel]:-0}" -eq 4 ] || fail "expected 4 quota-sentinel processes (3 gateways, the simulator), found ${kinds[quota-sentinel]:-0}"
[ "${kinds[postgres]:-0}" -ge 1 ] || fail "no PostgreSQL process"
[ "${kinds[redis-server]:-0}" -eq 1 ] || fail "expected 1 redis-server, found ${kinds[redis-server]:-0}"
[ "${kinds[nginx]:-0}" -ge 2 ] || fail "expected nginx's master and workers, found ${kinds[nginx]:-0}"
log "  processes: $(for k in "${!kinds[@]}"; do printf '%s×%s ' "${kinds[$k]}" "$k"; done)"

# 2. /healthz of nginx and of each gateway: PostgreSQL and Redis, both reachable.
health_ok() {
  local body
  body=$(curl -fsS --max-time 5 "$1/healthz") || fail "GET $1/healthz failed"
  for want in '"status":"ok"' '"shared_state":{"engine":"redis","reachable":true}' \
    '"database":{"engine":"postgres","reachable":true}'; do
    [[ "$body" == *"$want"* ]] || fail "$1/healthz lacks $want: $body"
  done
}
health_ok "$base"
for g in "${gateways[@]}"; do health_ok "$g"; done
log "  /healthz of nginx and the 3 gateways: ok, postgres and redis reachable"

# 3. The official SDK through nginx: plain and streamed chat calls, each answered, then the
# workspace's status (through nginx, so from any gateway) counts every one of them.
calls=9
OPENAI_BASE_URL=$base_url OPENAI_API_KEY=$ws_key QS_CALLS=$calls QS_BASE=$base \
  "$python" - <<'PY' || fail "the SDK calls through nginx failed (see above)"
import base64, json, os, socket, sys, time, urllib.request

import openai

base, key, calls = os.environ["QS_BASE"], os.environ["OPENAI_API_KEY"], int(os.environ["QS_CALLS"])
client = openai.OpenAI(max_retries=0, timeout=20)  # OPENAI_BASE_URL and OPENAI_API_KEY
streamed = 0
for i in range(calls):
    if i % 3 == 2:  # a streamed answer, chunk by chunk through nginx (proxy_buffering off)
        chunks = list(client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"stream {i}"}], stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert len(chunks) > 1 and text, f"streamed call {i}: {len(chunks)} chunks, text {text!r}"
        streamed += 1
    else:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"hello {i}"}])
        r = raw.parse()
        assert r.choices[0].message.content, f"call {i}: no content"
        assert raw.headers.get("x-quota-workspace") == "cluster", dict(raw.headers)
print(f"[test-cluster]   {calls} chat calls through nginx answered ({streamed} streamed)", file=sys.stderr)

def status():
    req = urllib.request.Request(f"{base}/api/quota/status", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())

# Each GET may be answered by another gateway: every answer must count every call.
deadline, seen = time.time() + 10, []
while True:
    seen = [status()["usage"]["requests_day"] for _ in range(6)]
    if all(n == calls for n in seen) or time.time() > deadline:
        break
    time.sleep(0.2)
assert all(n == calls for n in seen), f"requests_day through nginx: {seen}, want {calls} each time"
print(f"[test-cluster]   /api/quota/status through nginx: requests_day = {calls} (6 reads)", file=sys.stderr)

# The WebSocket upgrade of /api/quota/ws through nginx: 101, then the status message.
host, port = base.removeprefix("http://").split(":")
s = socket.create_connection((host, int(port)), timeout=5)
nonce = base64.b64encode(os.urandom(16)).decode()
s.sendall((f"GET /api/quota/ws?token={key} HTTP/1.1\r\nHost: {host}:{port}\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {nonce}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
buf = b""
while b"\r\n\r\n" not in buf:
    chunk = s.recv(4096)
    assert chunk, f"connection closed during the handshake: {buf!r}"
    buf += chunk
head, buf = buf.split(b"\r\n\r\n", 1)
assert head.startswith(b"HTTP/1.1 101"), head.decode(errors="replace")

def read(n):
    global buf
    while len(buf) < n:
        chunk = s.recv(65536)
        assert chunk, "connection closed mid-frame"
        buf += chunk
    out, buf = buf[:n], buf[n:]
    return out

b0, b1 = read(2)
assert b0 & 0x0F == 1, f"first frame has opcode {b0 & 0x0F}, not text"
n = b1 & 0x7F
if n == 126:
    n = int.from_bytes(read(2), "big")
elif n == 127:
    n = int.from_bytes(read(8), "big")
msg = json.loads(read(n))
assert msg["type"] == "status" and msg["data"]["workspace"] == "cluster", msg
s.close()
print("[test-cluster]   /api/quota/ws through nginx: 101 and the workspace's status", file=sys.stderr)
PY

# nginx spread the calls over the three gateways (its access log names the upstream of each).
mapfile -t used < <(sed -n 's|.*"POST /v1/chat/completions HTTP/1.1" 200 .* upstream=\([0-9.:]*\) .*|\1|p' \
  "$dir/nginx/access.log" | sort -u)
[ ${#used[@]} -eq 3 ] || fail "nginx sent the chat calls to ${#used[@]} gateway(s) (${used[*]}), not 3"
log "  nginx spread the calls over the 3 gateways"

# The web UI through nginx.
code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$base/login")
[ "$code" = 200 ] || fail "GET $base/login answered $code"

# 4. SIGTERM: everything stops, nothing is left, the folder is gone.
log "SIGTERM to scripts/cluster.sh"
t_stop=$EPOCHREALTIME
kill -TERM "$cluster_pid"
for _ in $(seq 600); do
  kill -0 "$cluster_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$cluster_pid" 2>/dev/null; then fail "scripts/cluster.sh did not exit within 60 s of SIGTERM"; fi
rc=0
wait "$cluster_pid" || rc=$?
cluster_pid=
[ "$rc" -eq 0 ] || fail "scripts/cluster.sh exited with $rc after SIGTERM"
stopped=$(awk -v a="$t_stop" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
left=()
for e in "${started[@]}"; do
  IFS=: read -r p st comm <<<"$e"
  if [ "$(start_time "$p")" = "$st" ]; then left+=("$p"); fi
done
if [ ${#left[@]} -gt 0 ]; then
  ps -o pid=,ppid=,stat=,args= -p "$(IFS=, && echo "${left[*]}")" >&2 || true
  fail "still running after the stop: the processes above"
fi
others=$(pgrep -af -- "$dir" || true)
[ -z "$others" ] || fail "processes of $dir still running: $others"
[ ! -e "$dir" ] || fail "the temp folder $dir was not removed"
for u in "$base" "${gateways[@]}"; do
  if curl -s --max-time 2 -o /dev/null "$u/healthz"; then fail "something still answers on $u"; fi
done
log "  stopped in $stopped s: ${#started[@]} processes gone, $dir removed"
log "ok ($(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s; cluster ready after $ready s)"
