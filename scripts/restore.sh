#!/usr/bin/env bash
# Restore a dump made by scripts/backup.sh (of this release or of any older one).
#
#   scripts/restore.sh DUMP
#       the compose stack: stops every service that writes (web, worker, delivery,
#       beat), restores into the `db` service's database `barometre`, then
#       `docker compose up -d` whatever happened (migrate brings the schema up to
#       the code's version, then everything starts). COMPOSE_PROJECT_NAME,
#       COMPOSE_FILE and COMPOSE_ENV_FILES, read by docker compose, name another stack.
#   RESTORE_DATABASE_URL=postgresql://…/NAME scripts/restore.sh DUMP
#       into the database NAME of any PostgreSQL server the host's psql and
#       pg_restore reach (the `postgres` database of that server is used to create
#       and rename databases: the role needs CREATEDB and to own NAME).
#
# The dump is restored into a new database, NAME_restore_<time>; only when that
# succeeded are connections to NAME ended and the two swapped by renaming, in one
# transaction: the restored database becomes NAME, and the database that was there
# (an upgraded schema, newer rows) is kept as NAME_before_restore_<time> until you
# drop it. A restore that fails leaves NAME as it was. A missing NAME is created.
#
# A rollback runs this release's script against the previous release's checkout: copied
# out of the repository (cp scripts/restore.sh /tmp/), it works on the compose project of
# the folder it is started from.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$here/docker-compose.yml" ]; then cd "$here"; fi

say() { echo "restore: $*" >&2; }
die() { say "$*"; exit 1; }

dump=${1:?usage: scripts/restore.sh DUMP}
[ -s "$dump" ] || die "$dump is missing or empty"
stamp=$(date -u +%Y%m%d%H%M%S)
options=(--no-owner --single-transaction --exit-on-error)

if [ -n "${RESTORE_DATABASE_URL:-}" ]; then
    # postgresql://user:password@host:port/NAME?options: NAME swapped for the others.
    address=${RESTORE_DATABASE_URL%%\?*}
    query=${RESTORE_DATABASE_URL#"$address"}
    name=${address##*/}
    server=${address%/*}
    [ "$server" != "$address" ] && [ -n "$name" ] || die "RESTORE_DATABASE_URL names no database"
    url_of() { echo "$server/$1$query"; }
    sql() { psql --no-psqlrc -q -X -v ON_ERROR_STOP=1 -At --dbname="$(url_of postgres)" -c "$1"; }
    list() { pg_restore --list "$dump"; }
    restore_into() { pg_restore "${options[@]}" --dbname="$(url_of "$1")" "$dump"; }
    wait_for_server() { sql 'SELECT 1' >/dev/null || die "cannot reach the PostgreSQL server of RESTORE_DATABASE_URL"; }
    start_again() { :; }
else
    compose=(docker compose)
    docker compose version >/dev/null 2>&1 || compose=(docker-compose)
    name=barometre
    sql() { "${compose[@]}" exec -T db psql --no-psqlrc -q -X -v ON_ERROR_STOP=1 -At -U barometre -d postgres -c "$1"; }
    list() { "${compose[@]}" exec -T db pg_restore --list < "$dump"; }
    restore_into() { "${compose[@]}" exec -T db pg_restore -U barometre -d "$1" "${options[@]}" < "$dump"; }
    wait_for_server() {
        "${compose[@]}" up -d db >/dev/null 2>&1 || die "cannot start the db service"
        # pg_isready would pass with the database missing: ask the server itself.
        local deadline=$(( $(date +%s) + 120 ))
        until sql 'SELECT 1' >/dev/null 2>&1; do
            [ "$(date +%s)" -lt "$deadline" ] || die "the db service does not answer after 120 s"
            sleep 1
        done
    }
    start_again() {
        say "starting the stack again: docker compose up -d (migrate first)"
        "${compose[@]}" up -d >&2
    }
fi

case $name in
    postgres | template0 | template1) die "will not restore into the $name database" ;;
esac
[[ $name =~ ^[A-Za-z0-9_-]+$ ]] || die "database name '$name': letters, digits, _ and - only"
fresh=${name}_restore_$stamp
kept=${name}_before_restore_$stamp
[ ${#kept} -le 63 ] || die "database name '$name' too long to keep a copy beside it (${#kept} > 63 characters)"

# The server answers and the dump is read before anything is stopped or created.
wait_for_server
tables=$(list | grep -c ' TABLE DATA ' || true)
[ "$tables" -gt 0 ] || die "$dump is not a dump of scripts/backup.sh (pg_restore --list reads no table data)"

created= restored=
cleanup() {
    status=$?
    if [ -n "$created" ]; then
        sql "DROP DATABASE IF EXISTS \"$fresh\" WITH (FORCE)" >/dev/null 2>&1 \
            || say "could not drop $fresh: drop it by hand"
    fi
    if ! start_again; then
        say "FAILED: docker compose up -d failed: run it again by hand"
        status=1
    fi
    if [ $status -ne 0 ] && [ -z "$restored" ]; then
        say "FAILED: $name was left as it was"
    fi
    exit $status
}

if [ -z "${RESTORE_DATABASE_URL:-}" ]; then
    writers=()
    for service in $("${compose[@]}" config --services); do
        case $service in db | redis | mailpit) ;; *) writers+=("$service") ;; esac
    done
    say "stopping every service that writes: ${writers[*]}"
    trap cleanup EXIT
    "${compose[@]}" stop "${writers[@]}" >&2
else
    trap cleanup EXIT
fi

exists=$(sql "SELECT count(*) FROM pg_database WHERE datname = '$name'")
if [ "$exists" = 0 ]; then
    say "database $name does not exist: it will be created"
fi

say "restoring $dump ($tables tables) into a new database, $fresh"
sql "CREATE DATABASE \"$fresh\"" >/dev/null
created=1
restore_into "$fresh" || die "pg_restore failed"

# One transaction: both renames or neither. Sessions still on either database are
# ended first (pg_terminate_backend waits up to 5 s for each); one that reconnects
# in between makes the rename fail, and the swap is tried again.
swap="BEGIN;
SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity
    WHERE datname IN ('$name', '$fresh') AND pid <> pg_backend_pid();"
if [ "$exists" != 0 ]; then
    swap+="
ALTER DATABASE \"$name\" RENAME TO \"$kept\";"
fi
swap+="
ALTER DATABASE \"$fresh\" RENAME TO \"$name\";
COMMIT;"
for attempt in 1 2 3 4 5; do
    if sql "$swap" >/dev/null; then
        created= restored=1
        break
    fi
    [ "$attempt" -lt 5 ] || die "could not swap $fresh for $name (sessions kept connecting)"
    sleep 1
done

if [ "$exists" != 0 ]; then
    say "$dump restored into $name; the database that was there is kept as $kept"
    say "(drop it once the restore is checked: DROP DATABASE \"$kept\")"
else
    say "$dump restored into $name (created)"
fi
