#!/usr/bin/env bash
# Runs a command with the database engines the tests use, started privately on loopback in a
# temporary folder and stopped (and removed) when the command ends, whatever its outcome:
#   scripts/with-engines.sh cargo test …
# The command sees QS_TEST_POSTGRES_URL (a superuser on a throwaway PostgreSQL cluster; tests
# make their own schema or database in it) and QS_TEST_REDIS_URL (a throwaway Redis; tests use
# their own workspace ids, or a database number of their own). PostgreSQL refuses to run as root, so as root
# the server runs as the `postgres` user of Debian's package.
set -euo pipefail
# shellcheck source=scripts/proc-lib.sh
. "$(cd "$(dirname "$0")" && pwd)/proc-lib.sh"
log() { printf '[engines] %s\n' "$*" >&2; }

pg_bin=$(pg_bin_dir)
if [ -z "$pg_bin" ]; then
  echo "PostgreSQL is not installed: run scripts/ensure-tools.sh test" >&2
  exit 1
fi

dir=$(mktemp -d /tmp/qs-engines.XXXXXX)
chmod 755 "$dir"
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$dir"
  as_pg=(runuser -u postgres --)
fi
cleanup() {
  if [ -f "$dir/redis.pid" ]; then kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; fi
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$dir/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

pg_port=$(free_port)
"${as_pg[@]}" "$pg_bin/initdb" -D "$dir/pg" -U qs -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
# Durability settings off: a test cluster is thrown away, and the suite creates many schemas.
# QS_ENGINES_DURABLE=1 (benchmarks) keeps PostgreSQL's defaults: fsync and synchronous commits.
pg_opts="-p $pg_port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300"
if [ "${QS_ENGINES_DURABLE:-0}" != 1 ]; then
  pg_opts="$pg_opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 30 start -o "$pg_opts" >/dev/null \
  || { cat "$dir/pg.log" >&2; exit 1; }
"$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U qs qs
export QS_TEST_POSTGRES_URL="postgres://qs@127.0.0.1:$pg_port/qs"
log "PostgreSQL on 127.0.0.1:$pg_port"

if ! command -v redis-server >/dev/null; then
  echo "Redis is not installed: run scripts/ensure-tools.sh test" >&2
  exit 1
fi
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
  --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" --databases 64 >/dev/null
for _ in $(seq 50); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$redis_port" ping >/dev/null || { cat "$dir/redis.log" >&2; exit 1; }
export QS_TEST_REDIS_URL="redis://127.0.0.1:$redis_port"
log "Redis on 127.0.0.1:$redis_port"

"$@"
