// The provider down for a minute, responding slower than the request
// timeout, and responding with every quirk of real providers for a whole run.

#include <string>

#include <rapidjson/document.h>

#include "fault_case.hpp"

namespace smm::faults {
namespace {

long long stat(const test::FakeProvider& provider, const char* name) {
  rapidjson::Document doc;
  doc.Parse(provider.get("/stats").c_str());
  return doc[name].GetInt64();
}

TEST_F(FaultCase, ProviderDownForAMinute) {
  create_table();
  start_provider();
  write_config();
  add_orders(17000001, 2000);
  start_daemon("daemon.log");

  ASSERT_TRUE(wait_writes(1500, 120s)) << daemon_logs();
  ASSERT_EQ(provider().post("/control", "down=1").status, 200);
  hold_fault(30s);
  expect_nothing_lost("halfway through the provider outage");
  hold_fault(30s);
  ASSERT_EQ(provider().post("/control", "down=0").status, 200);
  long long unavailable = stat(provider(), "http_5xx");
  EXPECT_GT(unavailable, 0);

  finish("provider_down", 180s, "outage_s=60 http_503=" + std::to_string(unavailable));
}

TEST_F(FaultCase, ProviderSlowerThanRequestTimeout) {
  create_table();
  // One response in five takes 3 s, past the daemon's 2 s request timeout.
  start_provider({"--rate-slow", "0.2", "--slow-ms", "3000"});
  write_config({{"provider.max_in_flight", "64"}});
  add_orders(18000001, 1500);
  start_daemon("daemon.log");

  finish("provider_slow", 240s, "");
  long long slow = stat(provider(), "slow");
  std::printf("fault_case_detail fault=provider_slow slow_answers=%lld\n", slow);
  EXPECT_GT(slow, 0);
}

TEST_F(FaultCase, ProviderChaosForWholeRun) {
  create_table();
  // Each response takes a random quirk: numbers as strings, nulls, odd words,
  // BOM, PHP warnings, HTML, empty and truncated bodies, 2 MiB bodies, 429
  // and 503. Retry-After 0 keeps a 429 from pausing the run; 5% more responses
  // are the truncated response of another id, which must never be written.
  start_provider({"--chaos", "--retry-after", "0", "--rate-malformed", "0.05"});
  // One response in 14 is a 429 without a pause, and each halves the rate;
  // a floor of half the rate keeps the run near a minute.
  write_config({{"provider.throttle_floor", "0.5"}});
  add_orders(19000001, 1000);
  start_daemon("daemon.log");

  finish("provider_chaos", 300s, "");
  long long chaos = stat(provider(), "chaos");
  long long malformed = stat(provider(), "malformed");
  std::printf("fault_case_detail fault=provider_chaos quirky_answers=%lld malformed=%lld requests=%lld\n", chaos,
              malformed, stat(provider(), "status_requests"));
  EXPECT_GT(chaos, 0);
  EXPECT_GT(malformed, 0);
}

}  // namespace
}  // namespace smm::faults
