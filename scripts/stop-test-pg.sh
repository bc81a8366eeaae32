#!/usr/bin/env bash
# Stop the throwaway PostgreSQL started by test-pg.sh (if it runs).
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
PGDATA=${PGDATA_DIR:-/tmp/portal-pg}
[ -n "$PGBIN" ] && [ -s "$PGDATA/PG_VERSION" ] && [ "$(id -u)" = 0 ] && \
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1
exit 0
