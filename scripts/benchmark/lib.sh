# shellcheck shell=bash
# Helpers for scripts/bench: process accounting from /proc, the orders
# table, the inbox and the schedule, and waiting for rows to be synced.
# Sourced after scripts/lib/servers.sh; expects REDIS_PORT, PG_CONNINFO,
# WORK and INBOX_KEY / SCHEDULE_KEY to be set. Not run on its own.

CLK_TCK=$(getconf CLK_TCK)

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# CPU time of a live process (user + system), in milliseconds.
cpu_ms() {
  local fields
  fields=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  # After "pid (comm) ", utime and stime are fields 12 and 13.
  echo "$fields" | awk -v tck="$CLK_TCK" '{ printf "%d\n", ($12 + $13) * 1000 / tck }'
}

# System (kernel) CPU time of a live process, in milliseconds.
system_cpu_ms() {
  local fields
  fields=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  echo "$fields" | awk -v tck="$CLK_TCK" '{ printf "%d\n", $13 * 1000 / tck }'
}

# CPU time of a process and of its children that it has waited for, in
# milliseconds. PostgreSQL's postmaster reaps its backends, so their CPU
# time lands in its cutime and cstime when they exit.
cpu_with_reaped_ms() {
  local fields
  fields=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  echo "$fields" | awk -v tck="$CLK_TCK" '{ printf "%d\n", ($12 + $13 + $14 + $15) * 1000 / tck }'
}

# CPU time of all PostgreSQL processes so far (postmaster, reaped backends
# and the live auxiliary processes), in milliseconds.
postgres_cpu_ms() {
  local postmaster total child
  postmaster=$(head -n 1 "$WORK/postgres/data/postmaster.pid")
  total=$(cpu_with_reaped_ms "$postmaster")
  for child in $(ps -o pid= --ppid "$postmaster"); do
    total=$((total + $(cpu_ms "$child")))
  done
  echo "$total"
}

redis_cpu_ms() { cpu_ms "$(cat "$WORK/redis/redis.pid")"; }

# Commands Redis has processed since it started.
redis_commands() {
  redis-cli -p "$REDIS_PORT" INFO stats | tr -d '\r' | awk -F: '/^total_commands_processed:/ { print $2 }'
}

# Transactions committed in the database "smm"; PostgreSQL reports a
# session's counts when its transaction ends (at most once a second) and
# when it disconnects.
postgres_transactions() {
  "$PG_BIN/psql" -X -q -At "$PG_CONNINFO" -c "SELECT xact_commit FROM pg_stat_database WHERE datname = 'smm'"
}

# Peak and current resident set size of a live process, in KiB.
peak_rss_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

psql_run() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$PG_CONNINFO" "$@"; }
psql_value() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$PG_CONNINFO" -c "$1"; }

# reset_orders COUNT: recreates the orders table (the demo's shape) with
# COUNT rows whose provider ids start at FIRST_ID + 1, and empties Redis.
reset_orders() {
  psql_run <<SQL
SET client_min_messages TO warning;
DROP TABLE IF EXISTS orders;
CREATE TABLE orders (
  id bigserial PRIMARY KEY,
  provider_order_id bigint UNIQUE NOT NULL,
  status text NOT NULL DEFAULT 'pending',
  start_count bigint,
  remains bigint,
  provider_synced_at timestamptz
);
INSERT INTO orders (provider_order_id) SELECT $FIRST_ID + g FROM generate_series(1, $1) AS g;
VACUUM ANALYZE orders;
CHECKPOINT;
SQL
  redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null
}

# push_inbox COUNT: LPUSHes the ids of reset_orders into the inbox, 1,000
# ids per command.
push_inbox() {
  seq $((FIRST_ID + 1)) $((FIRST_ID + $1)) | xargs -n 1000 echo LPUSH "$INBOX_KEY" \
    | redis-cli -p "$REDIS_PORT" >/dev/null
}

# schedule_future COUNT: ZADDs COUNT ids due in one day, 1,000 per command,
# so the daemon has them scheduled but polls none of them.
schedule_future() {
  local due=$(($(now_ms) + 86400000))
  seq $((FIRST_ID + 1)) $((FIRST_ID + $1)) | awk -v due="$due" -v key="$SCHEDULE_KEY" '
    { line = line " " due " " $1 }
    NR % 1000 == 0 { print "ZADD " key line; line = "" }
    END { if (line != "") print "ZADD " key line }' \
    | redis-cli -p "$REDIS_PORT" >/dev/null
}

unsynced_count() { psql_value "SELECT count(*) FROM orders WHERE provider_synced_at IS NULL"; }

# wait_synced PID TIMEOUT_S: waits until no order row lacks provider_synced_at.
# Fails when PID exits first (unless PID is empty) or after TIMEOUT_S seconds.
wait_synced() {
  local pid=$1 deadline=$(($(now_ms) + $2 * 1000))
  while [ "$(unsynced_count)" != 0 ]; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      echo "process $pid exited before every order was synced" >&2
      return 1
    fi
    if [ "$(now_ms)" -gt "$deadline" ]; then
      echo "orders still not synced after $2 s: $(unsynced_count) left" >&2
      return 1
    fi
    sleep 0.2
  done
}

# Time of the last write, as Unix milliseconds from provider_synced_at
# (the writing transaction's start time, set by PostgreSQL's now()).
last_write_ms() {
  psql_value "SELECT (extract(epoch FROM max(provider_synced_at)) * 1000)::bigint FROM orders"
}

# wait_port_file FILE: waits up to 10 s for a process to write its port.
wait_port_file() {
  for _ in $(seq 1 100); do
    [ -s "$1" ] && { cat "$1"; return 0; }
    sleep 0.1
  done
  echo "no port written to $1" >&2
  return 1
}

# stop_pid PID: SIGTERM, then wait up to 30 s for the process to exit.
stop_pid() {
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

# Divides A by B with two decimals; prints "n/a" when B is 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f\n", a / b }'; }
