#!/usr/bin/env bash
# Make sure the real services the tests talk to are up on 127.0.0.1: PostgreSQL (5432) and Redis (6379).
# On a fresh Debian machine (CI) they are installed from Debian's packages and started; where they already
# run (a developer's machine) this only checks. The tests read their addresses from BASTION_TEST_* variables
# whose defaults match what this script sets up.
set -euo pipefail

PG_PORT=5432
REDIS_PORT=6379
PG_DB=${BASTION_TEST_PG_DB:-bastion_test}

have_port() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if [ $apt_updated = 0 ]; then sudo_ apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq "$@" >/dev/null
}

if ! have_port $PG_PORT; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "ensure-services: installing PostgreSQL from Debian's packages"
    apt_install postgresql
  fi
  ver=$(ls /etc/postgresql | sort -V | tail -n 1)
  echo "ensure-services: starting PostgreSQL $ver"
  sudo_ pg_ctlcluster --skip-systemctl-redirect "$ver" main start || sudo_ pg_ctlcluster "$ver" main start
  for _ in $(seq 1 30); do have_port $PG_PORT && break; sleep 1; done
fi
have_port $PG_PORT || { echo "ensure-services: PostgreSQL did not come up on 127.0.0.1:$PG_PORT" >&2; exit 1; }

# A password for the postgres role, so that password (scram) auth on 127.0.0.1 works as well as trust auth.
pg_admin() { if [ "$(id -u)" = 0 ]; then su postgres -c "psql -qAt -c \"$1\""; else psql -h 127.0.0.1 -U postgres -qAt -c "$1"; fi; }
pg_admin "ALTER USER postgres PASSWORD 'postgres'" >/dev/null 2>&1 || true
if [ "$(pg_admin "SELECT 1 FROM pg_database WHERE datname='$PG_DB'" 2>/dev/null)" != "1" ]; then
  pg_admin "CREATE DATABASE $PG_DB" >/dev/null
fi

if ! have_port $REDIS_PORT; then
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "ensure-services: installing Redis from Debian's packages"
    apt_install redis-server
  fi
  mkdir -p /tmp/bastion-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port $REDIS_PORT --save "" --appendonly no \
    --dir /tmp/bastion-redis --logfile /tmp/bastion-redis/redis.log
  for _ in $(seq 1 30); do have_port $REDIS_PORT && break; sleep 1; done
fi
have_port $REDIS_PORT || { echo "ensure-services: Redis did not come up on 127.0.0.1:$REDIS_PORT" >&2; exit 1; }

echo "ensure-services: PostgreSQL 127.0.0.1:$PG_PORT/$PG_DB and Redis 127.0.0.1:$REDIS_PORT are up"
