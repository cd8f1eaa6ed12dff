#!/usr/bin/env bash
# Build local stand-ins for the images of docker-compose.yml, for a machine that
# cannot pull from an image registry but reaches Debian's package mirror:
#
#   barometre-standin/debian:bookworm   debootstrap --variant=minbase, `docker import`ed
#   barometre-standin/python            python3 3.11 from Debian   (for python:3.11-slim)
#   barometre-standin/postgres          PostgreSQL 15 from Debian  (for postgres:16-alpine)
#   barometre-standin/redis             Redis 7.0 from Debian      (for redis:7-alpine)
#   barometre-standin/mailsink          an SMTP sink with the part of Mailpit's API
#                                       that scripts/compose-smoke.sh reads
#
# Needs root, debootstrap and a running Docker engine. Images already built are kept
# (STANDIN_REBUILD=1 rebuilds them). Used by `make compose-smoke` with
# SMOKE_STANDINS=1 (docker-compose.standin.yml); never in production.
set -euo pipefail
cd "$(dirname "$0")/standin"
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
REBUILD=${STANDIN_REBUILD:-0}

have() { [ "$REBUILD" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }

if ! have barometre-standin/debian:bookworm; then
    command -v debootstrap >/dev/null || { echo "debootstrap missing: apt-get install debootstrap" >&2; exit 1; }
    rootfs=$(mktemp -d /var/tmp/barometre-rootfs.XXXXXX)
    echo "standin: debootstrap bookworm into $rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >/dev/null
    tar -C "$rootfs" -c . | docker import - barometre-standin/debian:bookworm >/dev/null
    rm -rf "$rootfs"
fi
# The host's certificate authorities, for pip inside the stand-in python image.
cp /etc/ssl/certs/ca-certificates.crt host-ca-certificates.crt
trap 'rm -f host-ca-certificates.crt' EXIT
for name in python postgres redis mailsink; do
    if ! have "barometre-standin/$name"; then
        echo "standin: building barometre-standin/$name"
        docker build --quiet -t "barometre-standin/$name" -f "$name.Dockerfile" . >/dev/null
    fi
done
echo "standin: images ready"
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^barometre-standin/' || true
