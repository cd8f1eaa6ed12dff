#!/usr/bin/env bash
# Back up the Baromètre database: a compressed custom-format pg_dump, checked
# (pg_restore --list reads it back), then dumps older than BACKUP_KEEP_DAYS go.
#
#   scripts/backup.sh [FOLDER]          the compose stack's `db` service (default ./backups)
#   BACKUP_DATABASE_URL=postgresql://… scripts/backup.sh [FOLDER]
#                                       any PostgreSQL the host's pg_dump reaches
#
# Prints the path of the dump on its last line. Dumps hold report text: keep them
# encrypted, off the server, no longer than needed (BACKUP_KEEP_DAYS, default 30).
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${1:-backups}
keep=${BACKUP_KEEP_DAYS:-30}
mkdir -p "$folder"
chmod 700 "$folder"
target="$folder/barometre-$(date -u +%Y%m%dT%H%M%SZ).dump"
partial="$target.partial"
trap 'rm -f "$partial"' EXIT

if [ -n "${BACKUP_DATABASE_URL:-}" ]; then
    dump() { pg_dump --format=custom --no-owner --dbname="$BACKUP_DATABASE_URL"; }
    list() { pg_restore --list "$1"; }
else
    compose=(docker compose)
    docker compose version >/dev/null 2>&1 || compose=(docker-compose)
    dump() { "${compose[@]}" exec -T db pg_dump -U barometre -d barometre --format=custom --no-owner; }
    list() { "${compose[@]}" exec -T db pg_restore --list < "$1"; }
fi

umask 077
dump > "$partial"
[ -s "$partial" ] || { echo "backup: empty dump" >&2; exit 1; }
tables=$(list "$partial" | grep -c ' TABLE DATA ' || true)
[ "$tables" -gt 0 ] || { echo "backup: the dump holds no table data" >&2; exit 1; }
mv "$partial" "$target"
find "$folder" -name 'barometre-*.dump' -mtime +"$keep" -delete
echo "backup: $(du -h "$target" | cut -f1) in $target ($tables tables)" >&2
echo "$target"
