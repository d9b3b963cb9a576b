// Redis restarted in the middle of a run (AOF with appendfsync always, so a
// crash keeps every acknowledged write), and Redis not replying for 30 s.

#include <csignal>
#include <string>

#include "fault_case.hpp"

namespace smm::faults {
namespace {

TEST_F(FaultCase, RedisRestartedWithAofMidRun) {
  PrivateRedis server(dir_.file("redis"));
  use_redis(server.url());
  create_table();
  start_provider();
  write_config();
  add_orders(12000001, 3000);
  start_daemon("daemon.log");

  ASSERT_TRUE(wait_writes(3000, 120s)) << daemon_logs();
  server.restart(SIGKILL);  // a crash
  reconnect_redis();
  expect_nothing_lost("after the Redis crash");

  ASSERT_TRUE(wait_writes(6000, 120s)) << daemon_logs();
  server.restart(SIGTERM);  // a clean restart
  reconnect_redis();
  expect_nothing_lost("after the Redis restart");

  finish("redis_restart", 180s, "restarts=2");
  EXPECT_TRUE(daemon(0).running()) << "the daemon exited instead of reconnecting";
}

TEST_F(FaultCase, RedisUnreachableForThirtySeconds) {
  PrivateRedis server(dir_.file("redis"));
  use_redis(server.url());
  create_table();
  start_provider();
  write_config();
  add_orders(13000001, 2000);
  start_daemon("daemon.log");

  ASSERT_TRUE(wait_writes(1500, 120s)) << daemon_logs();
  // SIGSTOP keeps the connections open with no replies, which is harder on
  // the client than a refused connection.
  server.pause();
  long long writes_before = writes();
  hold_fault(30s);
  long long writes_during = writes() - writes_before;
  EXPECT_TRUE(daemon(0).running()) << "the daemon exited during the Redis outage\n" << daemon_logs();
  server.resume();
  expect_nothing_lost("after the Redis outage");

  finish("redis_unreachable", 180s, "outage_s=30 writes_during_outage=" + std::to_string(writes_during));
}

}  // namespace
}  // namespace smm::faults
