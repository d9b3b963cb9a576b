// SIGKILL of the daemon at random moments while it syncs a few thousand
// orders. A lease of 3 s, longer than the 2 s request timeout, lets the next
// instance take over the killed one's claims soon.

#include <csignal>
#include <random>
#include <string>

#include "fault_case.hpp"

namespace smm::faults {
namespace {

constexpr int kOrders = 3000;
constexpr int kKills = 20;

TEST_F(FaultCase, SigkillAtTwentyRandomMoments) {
  create_table();
  start_provider({"--latency-ms", "5"});
  // Slow enough that the run outlasts the 20 kills: about 60 s of polls.
  write_config({{"provider.rate_limit", "150.0"}});
  add_orders(11000001, kOrders);

  std::uniform_int_distribution<int> run_ms(100, 2000);
  int kills_during_run = 0;
  for (int round = 0; round < kKills; ++round) {
    std::size_t index = start_daemon("daemon-" + std::to_string(round) + ".log");
    hold_fault(std::chrono::milliseconds(run_ms(random_)));
    ASSERT_TRUE(daemon(index).running()) << "daemon exited by itself\n" << daemon_logs();
    kill_daemon(index);
    if (final_rows() < kOrders) ++kills_during_run;
    expect_nothing_lost("after kill " + std::to_string(round + 1));
  }
  EXPECT_EQ(kills_during_run, kKills) << "the run finished before the last kill; make it longer";

  start_daemon("daemon-last.log");
  finish("sigkill", 300s, "kills_during_run=" + std::to_string(kills_during_run));
}

}  // namespace
}  // namespace smm::faults
