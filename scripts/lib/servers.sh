# Functions to start and stop a private Redis and PostgreSQL on loopback
# ports under a given folder. Sourced by scripts/demo, scripts/test and
# scripts/bench; not run on its own.

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

# Prints a TCP port on 127.0.0.1 that nothing listens on right now. It is
# taken below the kernel's ephemeral range (ip_local_port_range), so an
# outgoing connection cannot grab it between this check and the bind.
free_port() {
  local low=32768 high port
  read -r low high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  local first=10000 last=$((low - 1))
  if [ "$last" -le "$first" ]; then first=1024; fi
  for _ in $(seq 1 200); do
    port=$((first + RANDOM % (last - first + 1)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "no free port found on 127.0.0.1" >&2
  return 1
}

# start_redis DIR: starts redis-server with AOF on a free port; sets REDIS_PORT.
start_redis() {
  local dir=$1/redis
  mkdir -p "$dir"
  REDIS_PORT=$(free_port) || return 1
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir" \
    --appendonly yes --appendfsync everysec --save '' \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" || return 1
  for _ in $(seq 1 100); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "redis-server did not answer on port $REDIS_PORT; see $dir/redis.log" >&2
  return 1
}

stop_redis() {
  local pidfile=$1/redis/redis.pid
  [ -f "$pidfile" ] || return 0
  kill "$(cat "$pidfile")" 2>/dev/null
  for _ in $(seq 1 50); do
    kill -0 "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null || return 0
    sleep 0.1
  done
}

# Runs a command as the postgres user when we are root, because initdb and
# postgres refuse to run as root.
as_pg_user() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# start_postgres DIR: initdb and start PostgreSQL on a free port with a
# database "smm" that trusts local connections; sets PG_PORT and PG_CONNINFO.
start_postgres() {
  local dir=$1/postgres
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir" && chmod 755 "$1"
  PG_PORT=$(free_port) || return 1
  # initdb rejects a LANG naming a locale this machine has not generated
  # (id_ID.UTF-8 on a fresh Debian), so the servers get C.UTF-8, which
  # glibc always has, whatever the caller's language.
  as_pg_user env LC_ALL=C.UTF-8 "$PG_BIN/initdb" -D "$dir/data" -U smm -A trust --no-sync \
    --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { echo "initdb failed; see $dir/initdb.log" >&2; return 1; }
  as_pg_user env LC_ALL=C.UTF-8 "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w \
    -o "-h 127.0.0.1 -p $PG_PORT -k $dir -c fsync=off -c max_connections=200" start >/dev/null \
    || { echo "postgres did not start; see $dir/postgres.log" >&2; return 1; }
  PG_CONNINFO="host=127.0.0.1 port=$PG_PORT user=smm dbname=smm"
  "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U smm smm || return 1
}

stop_postgres() {
  local dir=$1/postgres
  [ -d "$dir/data" ] || return 0
  as_pg_user "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
}
