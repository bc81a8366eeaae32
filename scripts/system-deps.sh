#!/usr/bin/env bash
# Install the Debian packages Portal needs, when missing and running as root.
#   scripts/system-deps.sh run    pango and fonts (PDF rendering)
#   scripts/system-deps.sh test   also PostgreSQL, Chromium and poppler-utils
set -euo pipefail
want=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core)
if [ "${1:-run}" = "test" ]; then
  want+=(postgresql chromium poppler-utils)
fi
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "Missing Debian packages (install them as root): ${missing[*]}" >&2
  exit 0
fi
echo "Installing ${missing[*]}" >&2
# Another process may hold the dpkg lock for a while: wait for it rather than failing.
for attempt in $(seq 1 60); do
  if apt-get update -q >/dev/null 2>&1 && \
     DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
    exit 0
  fi
  echo "apt busy, retrying ($attempt)" >&2
  sleep 5
done
echo "Could not install ${missing[*]}" >&2
exit 1
