#!/bin/sh
# A private PostgreSQL 15 cluster for running the app by hand on this machine.
#
#   scripts/postgres.sh start    # initdb on first use, then start on 127.0.0.1:$DB_PORT
#   scripts/postgres.sh stop     # fast shutdown
#   scripts/postgres.sh status
#
# Reads DB_PORT (default 54329), DB_DATABASE, DB_USERNAME, DB_PASSWORD (defaults
# below, for a local sandbox only) and PG_DATA_DIR (default ./.data/postgres).
# PostgreSQL refuses to run as root: as root the cluster runs as the "postgres"
# user of Debian's postgresql package.
set -eu

cd "$(dirname "$0")/.."
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DATA=${PG_DATA_DIR:-$PWD/.data/postgres}
PORT=${DB_PORT:-54329}
DATABASE=${DB_DATABASE:-laravel_app}
USERNAME=${DB_USERNAME:-laravel_app}
PASSWORD=${DB_PASSWORD:-laravel_app_local}

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
    if [ ! -x "$PGBIN/initdb" ]; then
        echo "Cannot start PostgreSQL: $PGBIN/initdb is missing; install postgresql-15 or set PGBIN" >&2
        exit 1
    fi
    if [ ! -f "$DATA/PG_VERSION" ]; then
        mkdir -p "$DATA"
        [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA"
        chmod 700 "$DATA"
        as_owner "$PGBIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
        FRESH=1
    fi
    if as_owner "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        echo "PostgreSQL already runs on 127.0.0.1:$PORT"
    else
        as_owner "$PGBIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 30 \
            -o "-h 127.0.0.1 -p $PORT -k $DATA" start >/dev/null
        echo "PostgreSQL runs on 127.0.0.1:$PORT (log: $DATA/server.log)"
    fi
    if [ "${FRESH:-0}" = 1 ]; then
        escaped=$(printf '%s' "$PASSWORD" | sed "s/'/''/g")
        as_owner "$PGBIN/psql" -h "$DATA" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
            -c "CREATE ROLE \"$USERNAME\" LOGIN PASSWORD '$escaped'" \
            -c "CREATE DATABASE \"$DATABASE\" OWNER \"$USERNAME\""
        echo "Created database \"$DATABASE\" owned by \"$USERNAME\""
    fi
    ;;
stop)
    if as_owner "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        as_owner "$PGBIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
        echo "PostgreSQL stopped"
    else
        echo "PostgreSQL is not running"
    fi
    ;;
status)
    as_owner "$PGBIN/pg_ctl" -D "$DATA" status
    ;;
*)
    echo "Usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
