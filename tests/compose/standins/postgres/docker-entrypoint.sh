#!/bin/sh
# The official image's environment contract, on Debian's PostgreSQL 15: an empty PGDATA is
# initialised with POSTGRES_USER (password POSTGRES_PASSWORD) and POSTGRES_DB, then the
# server runs as user postgres. Local socket connections are trusted; TCP needs the password.
set -eu
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

if [ "${1:-}" = "postgres" ]; then
    : "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        pwfile=$(mktemp)
        printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}" > "$pwfile"
        chown postgres "$pwfile"
        as_postgres initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" \
            --auth-local=trust --auth-host=scram-sha-256 >/dev/null
        rm -f "$pwfile"
        echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
        as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
        if [ "$POSTGRES_DB" != "postgres" ]; then
            as_postgres psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres \
                -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
        fi
        as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
        echo "initialised $PGDATA for user $POSTGRES_USER, database $POSTGRES_DB"
    fi
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"
fi
exec "$@"
