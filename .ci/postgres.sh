#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the tests, and export SYNCENGINE_POSTGRES_DSN.
#
# Source it (the export must reach the caller), then stop the server when done:
#
#     source .ci/postgres.sh          # starts the server, exports the DSN
#     ... run the tests ...
#     syncengine_postgres_stop        # stops it and removes its folder
#
# The server listens on a unix socket only (no TCP port), in a fresh temporary folder,
# as a non-root user (PostgreSQL refuses to run as root: when this runs as root, it uses
# the user "pgtest", created if missing). Without PostgreSQL binaries it prints why and
# returns 0 without exporting anything: the PostgreSQL tests then skip with that reason.
#
# Environment: PG_BIN (the folder of initdb/pg_ctl/postgres; found in PATH or
# /usr/lib/postgresql/*/bin otherwise), PG_USER (the OS user when running as root).

syncengine_postgres_start() {
  local bin="${PG_BIN:-}"
  if [ -z "$bin" ]; then
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
      bin="$(dirname "$(readlink -f "$(command -v pg_ctl)")")"
    else
      bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    fi
  fi
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
    echo "postgres.sh: no PostgreSQL binaries (initdb, pg_ctl) found; PostgreSQL tests will skip"
    return 0
  fi
  local user="${PG_USER:-pgtest}"
  local dir
  dir="$(mktemp -d /tmp/syncengine-pg.XXXXXX)"
  chmod 755 "$dir"
  local run=()
  if [ "$(id -u)" = "0" ]; then
    if ! id "$user" >/dev/null 2>&1; then
      useradd --system --no-create-home --shell /usr/sbin/nologin "$user" 2>/dev/null ||
        useradd -M "$user"
    fi
    chown "$user" "$dir"
    run=(runuser -u "$user" --)
  else
    user="$(id -un)"
  fi
  "${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
    --no-locale >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log"
    echo "postgres.sh: initdb failed"
    return 1
  }
  # Unix socket only (listen_addresses=''), small and fast: a test server, not a production
  # one (fsync off: a crash of the machine may lose the test database, nothing else).
  # -t: how long to wait for the server to accept connections (long: a loaded machine).
  "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 300 \
    -o "-k $dir -c listen_addresses='' -c fsync=off -c synchronous_commit=off \
-c full_page_writes=off -c max_connections=200 -c shared_buffers=128MB" \
    start >/dev/null || {
    cat "$dir/server.log"
    echo "postgres.sh: the server did not start"
    return 1
  }
  export SYNCENGINE_POSTGRES_DIR="$dir"
  export SYNCENGINE_POSTGRES_BIN="$bin"
  export SYNCENGINE_POSTGRES_RUN="${run[*]}"
  export SYNCENGINE_POSTGRES_DSN="host=$dir dbname=postgres user=postgres"
  echo "postgres.sh: PostgreSQL running on the unix socket in $dir"
}

syncengine_postgres_stop() {
  local dir="${SYNCENGINE_POSTGRES_DIR:-}"
  [ -n "$dir" ] && [ -d "$dir/data" ] || return 0
  # shellcheck disable=SC2086 # the runner prefix is words on purpose
  ${SYNCENGINE_POSTGRES_RUN:-} "$SYNCENGINE_POSTGRES_BIN/pg_ctl" -D "$dir/data" -m immediate \
    -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  unset SYNCENGINE_POSTGRES_DIR SYNCENGINE_POSTGRES_DSN SYNCENGINE_POSTGRES_RUN
  unset SYNCENGINE_POSTGRES_BIN
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  # Run, not sourced: start the server and print the DSN (the caller stops it).
  set -euo pipefail
  syncengine_postgres_start
  echo "SYNCENGINE_POSTGRES_DSN=${SYNCENGINE_POSTGRES_DSN:-}"
else
  syncengine_postgres_start
fi
