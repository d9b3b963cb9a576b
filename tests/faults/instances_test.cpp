// Two and three instances sharing one Redis and one table, one of them
// killed in the middle of the run: its claims go to the others after the
// lease ends.

#include <string>

#include "fault_case.hpp"

namespace smm::faults {
namespace {


class InstancesFault : public FaultCase {
 protected:
  void run(int instances, long long first_id) {
    create_table();
    start_provider({"--latency-ms", "5"});
    std::string share = std::to_string(1.0 / instances);
    write_config({{"provider.local_rate_share", share.substr(0, 4)}});
    add_orders(first_id, 3000);
    for (int i = 0; i < instances; ++i) start_daemon("daemon-" + std::to_string(i) + ".log");

    ASSERT_TRUE(wait_writes(3000, 120s)) << daemon_logs();
    kill_daemon(0);
    expect_nothing_lost("after the kill");
    for (int i = 1; i < instances; ++i) {
      EXPECT_TRUE(daemon(static_cast<std::size_t>(i)).running()) << "instance " << i << " exited";
    }

    finish("instances_" + std::to_string(instances), 180s, "instances=" + std::to_string(instances));
  }
};

TEST_F(InstancesFault, TwoInstancesOneKilled) { run(2, 20000001); }

TEST_F(InstancesFault, ThreeInstancesOneKilled) { run(3, 21000001); }

}  // namespace
}  // namespace smm::faults
