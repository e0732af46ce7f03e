# Helpers of the scripts that start servers on loopback and must account for them afterwards
# (cluster.sh, test-cluster.sh, with-engines.sh, the benchmarks through bench-lib.sh); sourced,
# never run.
# shellcheck shell=bash

# A free TCP port on 127.0.0.1 (bound, then released for a server to take).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The bin folder of the newest PostgreSQL installed from Debian's packages (nothing if none).
pg_bin_dir() {
  local d
  d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  if [ -x "$d/initdb" ]; then echo "$d"; fi
}

# The given pids and every descendant of theirs, one per line.
family() {
  ps -e -o pid=,ppid= | awk -v roots="$*" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
    { parent[$1] = $2 }
    END {
      do { more = 0; for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; more = 1 } } while (more)
      for (p in keep) print p
    }'
}

# A live process's start time (clock ticks since boot; nothing for a zombie or no process): a
# pid with another start time is another process (pids are reused).
start_time() {
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  s=${s##*) }
  read -r -a s <<<"$s"
  [ "${s[0]}" = Z ] || echo "${s[19]}"
}
