#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the farm's tests (issue 20): `start` installs Debian's postgresql when it is
# missing, makes a cluster in a new temporary folder owned by an unprivileged user (PostgreSQL refuses to run as root),
# starts it on a free loopback port with its socket in that folder, creates the database `aura` and prints one line,
#   postgres://aura@127.0.0.1:PORT/aura DIRECTORY
# `stop DIRECTORY` stops it and removes the folder. `halt DIRECTORY` stops the server only and `resume DIRECTORY` starts
# it again on the same port (a restart mid-run). Trust authentication on loopback only: a test cluster.
set -euo pipefail

command="${1:-}"
# The server lives on after this script: it must hold none of our caller's descriptors (a test runner learns that
# this script ended when the sockets it gave it close).
for fd in $(ls /proc/$$/fd); do
  if [ "$fd" -gt 2 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
done
bin=""
find_bin() {
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [ -n "$bin" ] && [ -x "$bin/initdb" ]
}

as_owner() {
  # Runs "$@" as the cluster's owner: the postgres user when we are root, else ourselves.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$command" in
  start)
    if ! find_bin; then
      if [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
      else
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
      fi
      find_bin || { echo "pg-test-cluster: postgresql did not install" >&2; exit 1; }
    fi
    dir="$(mktemp -d /tmp/aura-pg-XXXXXX)"
    chmod 755 "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_owner "$bin/initdb" -D "$dir/data" -U aura --auth=trust --encoding=UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    echo "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" >"$dir/options"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$(cat "$dir/options")" start >&2 \
      || { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U aura aura
    echo "postgres://aura@127.0.0.1:$port/aura $dir"
    ;;
  stop)
    dir="${2:?usage: pg-test-cluster.sh stop DIRECTORY}"
    find_bin
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >&2 || true
    rm -rf "$dir"
    ;;
  halt)
    dir="${2:?usage: pg-test-cluster.sh halt DIRECTORY}"
    find_bin
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2
    ;;
  resume)
    dir="${2:?usage: pg-test-cluster.sh resume DIRECTORY}"
    find_bin
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$(cat "$dir/options")" start >&2 \
      || { cat "$dir/server.log" >&2; exit 1; }
    ;;
  createdb)
    # createdb DIRECTORY NAME: a fresh database in the cluster (one per test).
    dir="${2:?usage: pg-test-cluster.sh createdb DIRECTORY NAME}"
    find_bin
    port="$(sed -E 's/^-p ([0-9]+).*/\1/' "$dir/options")"
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U aura "${3:?name}"
    ;;
  *)
    echo "usage: scripts/pg-test-cluster.sh start | stop DIRECTORY | halt DIRECTORY | resume DIRECTORY | createdb DIRECTORY NAME" >&2
    exit 2
    ;;
esac
