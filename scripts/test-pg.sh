#!/usr/bin/env bash
# Start (idempotently) a throwaway PostgreSQL on a loopback port and print its URL.
# With TEST_PG_URL already set, that server is used as it is.
# When PostgreSQL cannot be had this fails (exit 1): the PostgreSQL run is the only one that
# catches broken limits under concurrency. SQLITE_ONLY=1 skips it explicitly (prints nothing on
# stdout, says so on stderr, exit 0).
set -euo pipefail
if [ "${SQLITE_ONLY:-}" = 1 ]; then
  echo "SQLITE_ONLY=1: PostgreSQL skipped, the tests run on SQLite only" >&2
  exit 0
fi
if [ -n "${TEST_PG_URL:-}" ]; then echo "$TEST_PG_URL"; exit 0; fi
unavailable() {
  echo "PostgreSQL unavailable: $1" >&2
  echo "The tests need it (Debian's postgresql and root, or TEST_PG_URL); SQLITE_ONLY=1 runs SQLite only." >&2
  exit 1
}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
[ -n "$PGBIN" ] || unavailable "Debian's postgresql is not installed"
[ "$(id -u)" = 0 ] || unavailable "starting a throwaway cluster needs root"
PGDATA=${PGDATA_DIR:-/tmp/portal-pg}
PGPORT=${PGPORT_TEST:-54329}
asp() { runuser -u postgres -- "$@"; }   # initdb and pg_ctl refuse to run as root
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  rm -rf "$PGDATA"; install -d -m700 -o postgres -g postgres "$PGDATA"
  asp "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null \
    || unavailable "initdb failed in $PGDATA"
fi
if ! asp "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
  asp "$PGBIN/pg_ctl" -D "$PGDATA" -w -l "$PGDATA/log" start \
    -o "-p $PGPORT -k $PGDATA -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" >/dev/null \
    || unavailable "the server did not start (see $PGDATA/log)"
fi
exists=$(psql -h 127.0.0.1 -p "$PGPORT" -U postgres -tAc "select 1 from pg_database where datname='portal_test'") \
  || unavailable "cannot connect to 127.0.0.1:$PGPORT"
[ "$exists" = 1 ] || psql -h 127.0.0.1 -p "$PGPORT" -U postgres -qc "create database portal_test" >/dev/null \
  || unavailable "cannot create the database portal_test"
echo "postgresql+psycopg://postgres@127.0.0.1:$PGPORT/portal_test"
