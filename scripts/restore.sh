#!/usr/bin/env bash
# Restore a dump made by scripts/backup.sh.
#
#   scripts/restore.sh DUMP
#       the compose stack: stops web, worker and beat, restores into the `db`
#       service's database (replacing what is there), then `docker compose up -d`
#       (migrate brings the schema up to the code's version, then everything starts)
#   RESTORE_DATABASE_URL=postgresql://… scripts/restore.sh DUMP
#       into any PostgreSQL database the host's pg_restore reaches (an empty one,
#       to try a backup without touching production)
#
# One transaction: a restore that fails leaves the database as it was.
set -euo pipefail
cd "$(dirname "$0")/.."
dump=${1:?usage: scripts/restore.sh DUMP}
[ -s "$dump" ] || { echo "restore: $dump is missing or empty" >&2; exit 1; }
options=(--clean --if-exists --no-owner --single-transaction --exit-on-error)

if [ -n "${RESTORE_DATABASE_URL:-}" ]; then
    pg_restore "${options[@]}" --dbname="$RESTORE_DATABASE_URL" "$dump"
    echo "restore: $dump restored" >&2
    exit 0
fi

compose=(docker compose)
docker compose version >/dev/null 2>&1 || compose=(docker-compose)
echo "restore: stopping web, worker and beat" >&2
"${compose[@]}" stop web worker beat
"${compose[@]}" up -d --wait db 2>/dev/null || "${compose[@]}" up -d db
until "${compose[@]}" exec -T db pg_isready -U barometre -d barometre -h 127.0.0.1 >/dev/null; do
    sleep 1
done
"${compose[@]}" exec -T db pg_restore -U barometre -d barometre "${options[@]}" < "$dump"
echo "restore: $dump restored; starting the stack (migrate first)" >&2
"${compose[@]}" up -d
