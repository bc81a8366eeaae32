#!/usr/bin/env bash
# Start (idempotently) a throwaway PostgreSQL on a loopback port and print its URL.
# With TEST_PG_URL already set, that server is used as it is.
set -euo pipefail
if [ -n "${TEST_PG_URL:-}" ]; then echo "$TEST_PG_URL"; exit 0; fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$PGBIN" ] || [ "$(id -u)" != 0 ]; then
  echo "PostgreSQL not started (needs Debian's postgresql and root, or TEST_PG_URL): SQLite only" >&2
  exit 0
fi
PGDATA=${PGDATA_DIR:-/tmp/portal-pg}
PGPORT=${PGPORT_TEST:-54329}
asp() { runuser -u postgres -- "$@"; }   # initdb and pg_ctl refuse to run as root
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  rm -rf "$PGDATA"; install -d -m700 -o postgres -g postgres "$PGDATA"
  asp "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
fi
if ! asp "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
  asp "$PGBIN/pg_ctl" -D "$PGDATA" -w -l "$PGDATA/log" start \
    -o "-p $PGPORT -k $PGDATA -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" >/dev/null
fi
psql -h 127.0.0.1 -p "$PGPORT" -U postgres -tAc "select 1 from pg_database where datname='portal_test'" | grep -q 1 \
  || psql -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "create database portal_test" >/dev/null
echo "postgresql+psycopg://postgres@127.0.0.1:$PGPORT/portal_test"
