#!/bin/sh
# As the official image does: without a config file, accept connections from the
# compose network (it is private to the stack; nothing publishes this port).
set -eu
if [ "${1:-}" = redis-server ]; then
    shift
    exec redis-server --protected-mode no "$@"
fi
exec "$@"
