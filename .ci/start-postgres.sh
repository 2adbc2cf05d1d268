#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster on loopback and print its SQLAlchemy URL.
# Usage: eval "$(bash .ci/start-postgres.sh [PORT])"  -> exports GLASSBOX_TEST_POSTGRES_URL
set -euo pipefail
PORT="${1:-55432}"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
DIR="$(mktemp -d /tmp/glassbox-pg.XXXXXX)"
chown postgres:postgres "$DIR"
su postgres -s /bin/sh -c "'$PGBIN/initdb' -D '$DIR/data' -A trust -U postgres >'$DIR/initdb.log' 2>&1"
su postgres -s /bin/sh -c "'$PGBIN/pg_ctl' -D '$DIR/data' -o \"-k '$DIR' -p $PORT -c listen_addresses=127.0.0.1 -c fsync=off\" -l '$DIR/server.log' -w start >/dev/null"
su postgres -s /bin/sh -c "'$PGBIN/createdb' -h 127.0.0.1 -p $PORT -U postgres glassbox_test"
echo "export GLASSBOX_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/glassbox_test"
echo "export GLASSBOX_PG_DIR=$DIR"
