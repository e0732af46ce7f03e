#!/usr/bin/env bash
# A whole cluster on this machine, for trying several gateways without containers: PostgreSQL,
# Redis, three gateways (`quota-sentinel serve`) and nginx in front of them, all on 127.0.0.1
# and in a fresh temporary folder, until Ctrl-C or SIGTERM stops everything and removes the
# folder. `make cluster` builds first and runs this; it prints where to point an SDK.
#
#   OPENAI_API_KEY=sk-… scripts/cluster.sh          the gateways call https://api.openai.com/v1
#   QS_CLUSTER_SIMULATE=1 scripts/cluster.sh        … the built-in OpenAI simulator instead
#
# Environment: QS_CLUSTER_PORT (nginx's port on 127.0.0.1, default 8080), QS_CLUSTER_SIMULATE=1,
# OPENAI_API_KEY or OPENAI_API_KEY_FILE (without the simulator), QS_UPSTREAM_URL (default
# https://api.openai.com/v1), QUOTA_ADMIN_KEY and QS_SESSION_SECRET (default: new random ones),
# QS_BIN (default $CARGO_TARGET_DIR/release/quota-sentinel), LEPTOS_SITE_ROOT (default
# target/site), QS_LOG. The deployment this mirrors: deploy/compose.yaml and deploy/nginx.conf.
# scripts/test-cluster.sh tests it.
# shellcheck disable=SC2317  # (functions run from traps and conditions are not unreachable)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/proc-lib.sh
. "$root/scripts/proc-lib.sh"
log() { printf '[cluster] %s\n' "$*" >&2; }
die() {
  printf '[cluster] FAILED: %s\n' "$*" >&2
  exit 1
}
started=$EPOCHREALTIME

: "${CARGO_TARGET_DIR:=$HOME/.cache/quota-sentinel/target}"
bin="${QS_BIN:-$CARGO_TARGET_DIR/release/quota-sentinel}"
site="${LEPTOS_SITE_ROOT:-$root/target/site}"
port="${QS_CLUSTER_PORT:-8080}"
simulate="${QS_CLUSTER_SIMULATE:-0}"

# What must be there before anything starts.
[ -x "$bin" ] || die "no gateway binary at $bin: run make cluster (or cargo leptos build --release)"
[ -d "$site/pkg" ] || die "no UI files in $site: run make cluster (or cargo leptos build --release)"
pg_bin=$(pg_bin_dir)
[ -n "$pg_bin" ] || die "PostgreSQL is not installed: run scripts/ensure-tools.sh cluster"
command -v redis-server >/dev/null || die "Redis is not installed: run scripts/ensure-tools.sh cluster"
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || die "nginx is not installed: run scripts/ensure-tools.sh cluster"
command -v curl >/dev/null || die "curl is not installed"
[[ "$port" =~ ^[0-9]+$ ]] || die "QS_CLUSTER_PORT must be a port number, not '$port'"
if [ "$simulate" != 1 ] && [ -z "${OPENAI_API_KEY:-}" ] && [ -z "${OPENAI_API_KEY_FILE:-}" ]; then
  die "set OPENAI_API_KEY (or OPENAI_API_KEY_FILE) for the real OpenAI, or QS_CLUSTER_SIMULATE=1 for the built-in simulator"
fi

port_free() {
  python3 -c 'import socket, sys; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}
secret() { python3 -c 'import secrets; print(secrets.token_hex(24))'; }
port_free "$port" || die "127.0.0.1:$port is in use: set QS_CLUSTER_PORT to another port"

dir=$(mktemp -d /tmp/qs-cluster.XXXXXX)
chmod 755 "$dir" # nginx's workers (nobody, when run as root) reach their temp folders in it
# PostgreSQL refuses to run as root: as root its server runs as Debian's `postgres` user.
as_pg=()
if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); fi

# The processes started here (PostgreSQL's aside: pg_ctl detaches it), by name and pid. Each
# runs in a session of its own (setsid): a Ctrl-C in the terminal reaches this script only,
# which then stops them in order.
names=()
pids=()
stopping=0
ours="^(nginx|postgres|redis-server|quota-sentinel|$(basename "$bin" | cut -c1-15))\$"
stop_pid() { # name pid seconds: SIGTERM, then SIGKILL after `seconds`
  local name=$1 pid=$2 wait_s=$3 i
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait_s * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not stop within $wait_s s of SIGTERM: killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$? i p
  set +e
  trap '' INT TERM HUP
  if [ "$stopping" = 1 ]; then rc=0; fi # stopped as asked: not a failure
  log "stopping"
  local all_pids=("${pids[@]}")
  if [ -f "$dir/pg/postmaster.pid" ]; then all_pids+=("$(head -n1 "$dir/pg/postmaster.pid")"); fi
  local everyone=() stamped=()
  if [ ${#all_pids[@]} -gt 0 ]; then mapfile -t everyone < <(family "${all_pids[@]}"); fi
  for p in "${everyone[@]}"; do stamped+=("$p:$(start_time "$p")"); done
  # nginx first (no new calls), then the gateways together (each flushes its ledger to
  # PostgreSQL), the simulator, Redis, and PostgreSQL last.
  for i in "${!names[@]}"; do
    if [ "${names[$i]}" = nginx ]; then stop_pid nginx "${pids[$i]}" 10; fi
  done
  for i in "${!names[@]}"; do
    case "${names[$i]}" in gateway-*) kill -TERM "${pids[$i]}" 2>/dev/null || true ;; esac
  done
  for i in "${!names[@]}"; do
    case "${names[$i]}" in gateway-*) stop_pid "${names[$i]}" "${pids[$i]}" 30 ;; esac
  done
  for i in "${!names[@]}"; do
    case "${names[$i]}" in nginx | gateway-*) ;; *) stop_pid "${names[$i]}" "${pids[$i]}" 10 ;; esac
  done
  if [ -f "$dir/pg/postmaster.pid" ]; then
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$dir/pg" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$dir/pg" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
  fi
  # Nothing of ours may be left (an nginx worker, a PostgreSQL backend…).
  local left=() tries
  for tries in 1 2 3 4 5 6 7 8 9 10 last; do # those still exiting get a second
    left=()
    for p in "${stamped[@]}"; do
      [ "$(start_time "${p%%:*}")" = "${p#*:}" ] || continue
      if [[ "$(ps -o comm= -p "${p%%:*}" 2>/dev/null)" =~ $ours ]]; then left+=("${p%%:*}"); fi
    done
    [ ${#left[@]} -eq 0 ] || [ "$tries" = last ] && break
    sleep 0.1
  done
  if [ ${#left[@]} -gt 0 ]; then
    log "still running after the stop, killed:"
    ps -o pid=,ppid=,stat=,args= -p "$(
      IFS=,
      echo "${left[*]}"
    )" >&2
    kill -KILL "${left[@]}" 2>/dev/null || true
    rc=1
  fi
  if [ "$rc" -ne 0 ]; then
    for f in "$dir"/*.log "$dir"/nginx/error.log; do
      if [ ! -s "$f" ] || [ "$f" = "$dir/initdb.log" ]; then continue; fi
      printf -- '--- last lines of %s ---\n' "${f#"$dir/"}" >&2
      tail -n 15 "$f" >&2
    done
  fi
  rm -rf "$dir"
  log "stopped; removed $dir"
  exit "$rc"
}
trap cleanup EXIT
trap 'stopping=1; exit 0' INT TERM HUP

# wait_until name seconds command…: polls the command until it succeeds; fails if the process
# `name` (one of ours) exits first.
wait_until() {
  local name=$1 wait_s=$2 pid="" i
  shift 2
  for i in "${!names[@]}"; do if [ "${names[$i]}" = "$name" ]; then pid=${pids[$i]}; fi; done
  local deadline=$((SECONDS + wait_s))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then die "$name exited at start"; fi
    [ $SECONDS -lt $deadline ] || die "$name did not answer within $wait_s s"
    sleep 0.1
  done
}
http_ok() { curl -fsS --max-time 2 -o /dev/null "$1"; }

# --- PostgreSQL: Debian's server with its default durability settings; a password for the
# gateways (scram), so that other users of this machine cannot connect.
pg_port=$(free_port)
pg_password=$(secret)
mkdir -m 700 "$dir/pg" "$dir/pg-socket"
printf '%s\n' "$pg_password" >"$dir/pg-password"
chmod 600 "$dir/pg-password"
: >"$dir/postgres.log"
if [ ${#as_pg[@]} -gt 0 ]; then chown postgres: "$dir/pg" "$dir/pg-socket" "$dir/pg-password" "$dir/postgres.log"; fi
"${as_pg[@]}" "$pg_bin/initdb" -D "$dir/pg" -U qs --pwfile="$dir/pg-password" -A scram-sha-256 \
  -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
  {
    cat "$dir/initdb.log" >&2
    die "initdb failed"
  }
rm -f "$dir/pg-password"
setsid -w "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$dir/pg" -l "$dir/postgres.log" -w -t 30 start \
  -o "-p $pg_port -k $dir/pg-socket -c listen_addresses=127.0.0.1" >/dev/null ||
  die "PostgreSQL did not start"
PGPASSWORD="$pg_password" "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U qs quota_sentinel
database_url="postgres://qs:$pg_password@127.0.0.1:$pg_port/quota_sentinel"
log "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port"

# --- Redis: counters and fan-out only, nothing on disk; its password in its config file.
redis_port=$(free_port)
redis_password=$(secret)
cat >"$dir/redis.conf" <<EOF
port $redis_port
bind 127.0.0.1
requirepass $redis_password
save ""
appendonly no
daemonize no
dir $dir
EOF
chmod 600 "$dir/redis.conf"
setsid redis-server "$dir/redis.conf" >"$dir/redis.log" 2>&1 </dev/null &
names+=(redis)
pids+=("$!")
wait_until redis 10 env REDISCLI_AUTH="$redis_password" redis-cli -p "$redis_port" ping
redis_url="redis://:$redis_password@127.0.0.1:$redis_port/0"
log "Redis $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p') on 127.0.0.1:$redis_port"

# --- The upstream: the real OpenAI, or the simulator.
sim_key=
if [ "$simulate" = 1 ]; then
  sim_port=$(free_port)
  sim_key="sk-cluster-simulator-$(secret)"
  (
    unset OPENAI_API_KEY OPENAI_API_KEY_FILE QS_SIM_LISTEN
    export QS_SIM_API_KEY="$sim_key" # the key the gateways must send it
    exec setsid "$bin" simulate --sim-listen "127.0.0.1:$sim_port"
  ) >"$dir/simulator.log" 2>&1 </dev/null &
  names+=(simulator)
  pids+=("$!")
  wait_until simulator 10 http_ok "http://127.0.0.1:$sim_port/_sim/stats"
  upstream_url="http://127.0.0.1:$sim_port/v1"
  log "OpenAI simulator on 127.0.0.1:$sim_port"
else
  upstream_url="${QS_UPSTREAM_URL:-https://api.openai.com/v1}"
fi

# --- The gateways' settings: one workspace and its key, the admin key, the session secret.
keygen=$("$bin" keygen)
ws_key=$(sed -n 's/^key: *//p' <<<"$keygen")
ws_sha=$(sed -n 's/^key_sha256: *//p' <<<"$keygen")
if [ -z "$ws_key" ] || [ -z "$ws_sha" ]; then die "quota-sentinel keygen printed no key"; fi
admin_key="${QUOTA_ADMIN_KEY:-$(secret)}"
session_secret="${QS_SESSION_SECRET:-$(secret)}"
cat >"$dir/quota-sentinel.toml" <<EOF
# Written by scripts/cluster.sh (see deploy/quota-sentinel.toml).
[server]
# Every client reaches the gateways from nginx's address: nginx caps clients instead.
max_connections_per_address = 0
secure_cookies = false

[[workspaces]]
id = "cluster"
name = "Cluster"
key_sha256 = ["$ws_sha"]
EOF

# --- Three gateways, each with its own spool file. The first one applies the migrations and
# makes the session salt; the other two start once it answers. Secrets go in the environment,
# never on a command line (which every user sees in the process list).
gateway_ports=()
start_gateway() {
  local n=$1 p
  p=$(free_port)
  gateway_ports+=("$p")
  mkdir -p "$dir/gateway-$n"
  (
    cd "$dir/gateway-$n" # nothing it writes lands in the caller's working directory
    unset QS_LISTEN QS_SPOOL_FILE QUOTA_ADMIN_KEY_FILE
    if [ "$simulate" = 1 ]; then
      unset OPENAI_API_KEY_FILE
      export OPENAI_API_KEY="$sim_key"
    fi
    export QS_CONFIG="$dir/quota-sentinel.toml" QS_DATABASE_URL="$database_url" \
      QS_REDIS_URL="$redis_url" QS_UPSTREAM_URL="$upstream_url" QUOTA_ADMIN_KEY="$admin_key" \
      QS_SESSION_SECRET="$session_secret" LEPTOS_SITE_ROOT="$site"
    exec setsid "$bin" serve --listen "127.0.0.1:$p" --spool-file "$dir/gateway-$n/ledger.spool"
  ) >"$dir/gateway-$n.log" 2>&1 </dev/null &
  names+=("gateway-$n")
  pids+=("$!")
}
start_gateway 1
wait_until gateway-1 60 http_ok "http://127.0.0.1:${gateway_ports[0]}/healthz"
start_gateway 2
start_gateway 3
wait_until gateway-2 60 http_ok "http://127.0.0.1:${gateway_ports[1]}/healthz"
wait_until gateway-3 60 http_ok "http://127.0.0.1:${gateway_ports[2]}/healthz"
for n in 1 2 3; do
  health=$(curl -fsS --max-time 2 "http://127.0.0.1:${gateway_ports[$((n - 1))]}/healthz")
  [[ "$health" == *'"status":"ok"'* ]] || die "gateway-$n is not healthy: $health"
done
log "gateways on 127.0.0.1:${gateway_ports[0]}, :${gateway_ports[1]} and :${gateway_ports[2]}"

# --- nginx in front, as deploy/nginx.conf but on loopback, with its files in the temp folder
# (its own pid file, logs and temp paths: a system nginx, if any, is not involved).
mkdir -p "$dir/nginx"
upstream_servers=""
for p in "${gateway_ports[@]}"; do
  upstream_servers+="    server 127.0.0.1:$p max_fails=3 fail_timeout=10s;"$'\n'
done
cat >"$dir/nginx/nginx.conf" <<EOF
# Written by scripts/cluster.sh from deploy/nginx.conf (see the comments there).
worker_processes 2;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/error.log warn;
events { worker_connections 1024; }

http {
  # Which gateway answered each call: upstream=ADDR.
  log_format gateways '\$remote_addr [\$time_local] "\$request" \$status \$body_bytes_sent upstream=\$upstream_addr \${request_time}s';
  access_log $dir/nginx/access.log gateways;
  client_body_temp_path $dir/nginx/client_body;
  proxy_temp_path $dir/nginx/proxy;
  fastcgi_temp_path $dir/nginx/fastcgi;
  uwsgi_temp_path $dir/nginx/uwsgi;
  scgi_temp_path $dir/nginx/scgi;

  upstream quota_sentinel {
    least_conn;
${upstream_servers}    keepalive 64;
  }

  map \$http_upgrade \$connection_upgrade {
    default upgrade;
    ''      '';
  }

  limit_conn_zone \$binary_remote_addr zone=per_client:10m;

  server {
    listen 127.0.0.1:$port;
    limit_conn per_client 256;
    client_max_body_size 512m;

    proxy_set_header Host \$http_host;
    proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto \$scheme;
    proxy_http_version 1.1;

    location = /api/quota/ws {
      proxy_pass http://quota_sentinel;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }

    location / {
      proxy_pass http://quota_sentinel;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 600s;
      proxy_send_timeout 600s;
    }
  }
}
EOF
setsid "$nginx_bin" -p "$dir/nginx/" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/error.log" -g 'daemon off;' \
  >"$dir/nginx.log" 2>&1 </dev/null &
names+=(nginx)
pids+=("$!")
base="http://127.0.0.1:$port"
wait_until nginx 10 http_ok "$base/healthz"
log "nginx on 127.0.0.1:$port"

elapsed=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
if [ "$simulate" = 1 ]; then upstream_note="the built-in OpenAI simulator"; else upstream_note="$upstream_url"; fi
cat <<EOF

Quota Sentinel cluster ready in $elapsed s: PostgreSQL, Redis, 3 gateways and nginx on 127.0.0.1, calling $upstream_note.
Point an SDK at it:
  OPENAI_BASE_URL=$base/v1
  OPENAI_API_KEY=$ws_key
Web UI: $base/admin, signed in with the admin key:
  QUOTA_ADMIN_KEY=$admin_key
Gateways: http://127.0.0.1:${gateway_ports[0]} http://127.0.0.1:${gateway_ports[1]} http://127.0.0.1:${gateway_ports[2]}
Logs: $dir (gateway-1.log … gateway-3.log, postgres.log, redis.log, nginx/error.log, nginx/access.log)
Ctrl-C (or SIGTERM) stops everything and removes that folder.

EOF

# Until a signal, or until one of our processes ends by itself (a failure).
set +e
wait -n "${pids[@]}"
set -e
for i in "${!names[@]}"; do
  kill -0 "${pids[$i]}" 2>/dev/null || die "${names[$i]} exited by itself"
done
die "a process of the cluster exited by itself"
