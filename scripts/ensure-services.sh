#!/usr/bin/env bash
# Make sure what the tests need is there: PostgreSQL and Redis on loopback, Chromium,
# SpamAssassin.
# Starts a stopped server; installs it with apt-get where the machine lacks it.
set -euo pipefail

log() { printf '[ensure-services] %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  log "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for() {  # wait_for NAME COMMAND...
  local name=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then log "$name is up"; return 0; fi
    sleep 0.5
  done
  log "$name did not come up"; return 1
}

ensure_postgres() {
  if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then log "postgresql is up"; return; fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql postgresql-client
    local hba
    hba=$(ls /etc/postgresql/*/main/pg_hba.conf | head -n 1)
    # Tests connect over loopback without a password, as on the reference machine.
    as_root sed -i -E 's/^(local|host)(.*)(peer|md5|scram-sha-256)$/\1\2trust/' "$hba"
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for postgresql pg_isready -h 127.0.0.1 -p 5432 -q
}

ensure_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then log "redis is up"; return; fi
  command -v redis-server >/dev/null || apt_install redis-server
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for redis sh -c 'redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG'
}

ensure_chromium() {
  # The browser tests drive Debian's Chromium (Playwright downloads no browser here).
  if [ -x /usr/bin/chromium ]; then log "chromium is installed"; return; fi
  apt_install chromium
}

ensure_spamassassin() {
  # The email tests score every email with SpamAssassin's local rules (`spamassassin -t -L`).
  if command -v spamassassin >/dev/null; then log "spamassassin is installed"; return; fi
  apt_install spamassassin
}

ensure_pango() {
  # WeasyPrint (the yearly report as PDF) loads Pango with its FreeType backend.
  if ldconfig -p | grep -q libpangoft2-1.0.so.0; then log "pango is installed"; return; fi
  apt_install libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core
}

ensure_postgres
ensure_redis
ensure_chromium
ensure_spamassassin
ensure_pango
