#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server on 127.0.0.1 for the source tests
# and prints the DSN as a shell export:
#
#   eval "$(bash .ci/postgres.sh)"     # sets JOINTLY_TEST_POSTGRES
#   go test ./party/source/...
#   pg_ctl -D "$JOINTLY_PG_DIR/data" stop   (or: bash .ci/postgres.sh stop)
#
# Installs PostgreSQL from Debian's packages when no server binaries are
# found (needs root). Everything else goes to stderr, so only the export
# lines reach eval. Environment: JOINTLY_PG_PORT (default: first free port
# from 54329), JOINTLY_PG_DIR (default: a new directory under /tmp).
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			echo "$d"
			return 0
		fi
	done
	if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
		dirname "$(command -v initdb)"
		return 0
	fi
	return 1
}

if [ "${1:-}" = "stop" ]; then
	bindir=$(find_bindir)
	dir=${JOINTLY_PG_DIR:?JOINTLY_PG_DIR is not set}
	as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
	as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast stop >&2
	exit 0
fi

if ! bindir=$(find_bindir); then
	log "installing postgresql from Debian packages"
	if [ "$(id -u)" != 0 ]; then
		log "need root to install postgresql"
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	apt-get install -y postgresql >&2
	bindir=$(find_bindir)
fi

dir=${JOINTLY_PG_DIR:-$(mktemp -d /tmp/jointly-pg.XXXXXX)}
mkdir -p "$dir"

# The server refuses to run as root: run it as the postgres user then.
if [ "$(id -u)" = 0 ]; then
	id postgres >/dev/null 2>&1 || useradd --system --home-dir "$dir" postgres
	chown -R postgres "$dir"
	chmod 700 "$dir"
	as_owner() { runuser -u postgres -- "$@"; }
else
	as_owner() { "$@"; }
fi

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=${JOINTLY_PG_PORT:-}
if [ -z "$port" ]; then
	port=54329
	while ! port_free "$port"; do port=$((port + 1)); done
fi

password=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')

if [ ! -f "$dir/data/PG_VERSION" ]; then
	as_owner "$bindir/initdb" -D "$dir/data" --username=postgres \
		--auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --no-locale >&2
fi
as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
	-o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >&2

psql_super() { as_owner psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres "$@"; }
psql_super -d postgres >&2 <<SQL
DROP DATABASE IF EXISTS jointly_test;
DROP ROLE IF EXISTS jointly;
CREATE ROLE jointly LOGIN PASSWORD '$password';
CREATE DATABASE jointly_test OWNER jointly;
SQL

dsn="postgres://jointly:$password@127.0.0.1:$port/jointly_test?sslmode=disable"
echo "$dsn" >"$dir/dsn"
chmod 600 "$dir/dsn"
if [ -n "${GITHUB_ENV:-}" ]; then
	echo "JOINTLY_TEST_POSTGRES=$dsn" >>"$GITHUB_ENV"
	echo "JOINTLY_PG_DIR=$dir" >>"$GITHUB_ENV"
fi
log "server on 127.0.0.1:$port, data in $dir"
echo "export JOINTLY_TEST_POSTGRES='$dsn'"
echo "export JOINTLY_PG_DIR='$dir'"
