// Provider limits across instances: the shared rate, Retry-After pauses,
// the account circuit, transient storms and dead-letter requeues. Real
// Redis, PostgreSQL, fake provider and smm-syncd processes.

#include <csignal>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "support/support.hpp"

using namespace std::chrono_literals;
using smm::test::FakeProvider;
using smm::test::Process;
using smm::test::SyncPg;
using smm::test::SyncRedis;
using smm::test::TempDir;

namespace {

constexpr auto kSyncTimeout = 90s;

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (smm::test::redis_url().empty() || smm::test::pg_conninfo().empty()) {
      GTEST_SKIP() << "SMM_TEST_REDIS_URL and SMM_TEST_PG_CONNINFO are unset; run scripts/test";
    }
    prefix_ = smm::test::unique_name("limits");
    table_ = smm::test::unique_name("orders");
    redis_ = std::make_unique<SyncRedis>(smm::test::redis_url());
    pg_ = std::make_unique<SyncPg>(smm::test::pg_conninfo());
    pg_->exec("CREATE TABLE " + table_ +
              " (id bigserial PRIMARY KEY, provider_order_id bigint UNIQUE NOT NULL,"
              " status text NOT NULL DEFAULT 'pending', start_count bigint, remains bigint,"
              " provider_synced_at timestamptz)");
  }

  void TearDown() override {
    daemons_.clear();
    if (pg_) pg_->exec("DROP TABLE IF EXISTS " + table_);
  }

  void start_provider(std::vector<std::string> args = {}) {
    provider_ = std::make_unique<FakeProvider>(dir_, std::move(args));
  }

  // Writes `name`: test defaults with `overrides` ("section.key" -> TOML value).
  std::string write_config(const std::map<std::string, std::string>& overrides,
                           const std::string& name = "smm-syncd.toml") {
    std::map<std::string, std::map<std::string, std::string>> sections;
    auto set = [&](const std::string& dotted, const std::string& value) {
      auto dot = dotted.find('.');
      sections[dotted.substr(0, dot)][dotted.substr(dot + 1)] = value;
    };
    set("provider.base_url", "\"" + provider_->base_url() + "\"");
    set("provider.rate_limit", "20.0");
    set("provider.burst", "5");
    set("provider.max_in_flight", "16");
    set("provider.request_timeout", "\"2s\"");
    set("redis.url", "\"" + smm::test::redis_url() + "\"");
    set("redis.key_prefix", "\"" + prefix_ + "\"");
    set("redis.idle_poll", "\"200ms\"");
    set("postgres.conninfo", "\"" + smm::test::pg_conninfo() + "\"");
    set("postgres.table", "\"" + table_ + "\"");
    set("poll.pending_interval", "\"300ms\"");
    set("poll.processing_interval", "\"300ms\"");
    set("poll.lease", "\"5s\"");
    set("poll.retry_base", "\"50ms\"");
    set("poll.retry_cap", "\"500ms\"");
    set("health.listen", "\"127.0.0.1:0\"");
    set("shutdown.grace", "\"3s\"");
    for (const auto& [dotted, value] : overrides) set(dotted, value);

    std::string text;
    for (const auto& [section, keys] : sections) {
      text += "[" + section + "]\n";
      for (const auto& [key, value] : keys) text += key + " = " + value + "\n";
    }
    dir_.write(name, text);
    return dir_.file(name);
  }

  // Starts a daemon logging to `log_name`; `api_key` "" passes the right key.
  Process& start_daemon(const std::string& config, const std::string& log_name,
                        const std::string& api_key = FakeProvider::kApiKey) {
    daemons_.push_back(std::make_unique<Process>(
        SMM_DAEMON_PATH, std::vector<std::string>{"run", "--config", config}, dir_.file(log_name),
        std::map<std::string, std::string>{{"CENTRALSMM_API_ID", FakeProvider::kApiId},
                                           {"CENTRALSMM_API_KEY", api_key},
                                           {"CENTRALSMM_SECRET_KEY", FakeProvider::kSecretKey}}));
    return *daemons_.back();
  }

  std::string log(const std::string& name) const { return smm::test::read_file(dir_.file(name)); }

  std::string key(const std::string& name) const { return "{" + prefix_ + "}:" + name; }

  std::vector<std::string> insert_orders(long long first, int count) {
    pg_->exec("INSERT INTO " + table_ + " (provider_order_id) SELECT g FROM generate_series(" +
              std::to_string(first) + ", " + std::to_string(first + count - 1) + ") AS g");
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) ids.push_back(std::to_string(first + i));
    return ids;
  }

  void push(const std::vector<std::string>& ids) {
    for (const auto& id : ids) redis_->command({"LPUSH", key("inbox"), id});
  }

  long long count_where(const std::string& condition) {
    return std::stoll(pg_->query("SELECT count(*) FROM " + table_ + " WHERE " + condition)[0][0]);
  }

  long long not_final() { return count_where("status NOT IN ('success','partial','error','canceled')"); }

  long long provider_stat(const char* name) const {
    rapidjson::Document doc;
    doc.Parse(provider_->get("/stats").c_str());
    return doc[name].GetInt64();
  }

  TempDir dir_;
  std::string prefix_;
  std::string table_;
  std::unique_ptr<SyncRedis> redis_;
  std::unique_ptr<SyncPg> pg_;
  std::unique_ptr<FakeProvider> provider_;
  std::vector<std::unique_ptr<Process>> daemons_;
};

}  // namespace

TEST_F(LimitsTest, TwoInstancesStayWithinSharedRate) {
  // The fake counts every request over 20/s (burst 5) as a violation.
  start_provider({"--latency-ms", "20", "--server-rate-limit", "20", "--server-burst", "5"});
  // A wide burst margin: this machine may be busy with other builds, and a
  // process stalled between its grant and its send must not be mistaken
  // for a pacing error. The rate arithmetic under test is the same.
  const std::string config = write_config({{"provider.burst_margin", "\"100ms\""}});
  push(insert_orders(1100001, 400));
  start_daemon(config, "a.log");
  start_daemon(config, "b.log");

  ASSERT_TRUE(smm::test::eventually([&] { return provider_stat("status_requests") >= 20; }, 30s))
      << log("a.log");
  const auto start = std::chrono::steady_clock::now();
  const long long before = provider_stat("status_requests");
  std::this_thread::sleep_for(6s);  // the measured window, not a synchronisation
  const long long after = provider_stat("status_requests");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  EXPECT_EQ(provider_stat("violations"), 0) << log("a.log") << log("b.log");
  // At most the rate plus one burst in the window; at least most of the rate.
  EXPECT_LE(static_cast<double>(after - before), 20.0 * seconds + 5.0);
  EXPECT_GE(static_cast<double>(after - before), 0.8 * 20.0 * 6.0);
  EXPECT_NE(log("a.log").find("sync_started"), std::string::npos);
  EXPECT_NE(log("b.log").find("sync_started"), std::string::npos);
}

TEST_F(LimitsTest, RetryAfterPausesBothInstances) {
  start_provider({"--latency-ms", "10"});
  const std::string config = write_config({});
  push(insert_orders(1200001, 400));
  start_daemon(config, "a.log");
  start_daemon(config, "b.log");
  ASSERT_TRUE(smm::test::eventually([&] { return provider_stat("status_requests") >= 30; }, 30s))
      << log("a.log");

  ASSERT_EQ(provider_->post("/control", "rate-429=1&retry-after=2").status, 200);
  ASSERT_TRUE(smm::test::eventually([&] { return provider_stat("http_429") > 0; }, 10s));
  ASSERT_EQ(provider_->post("/control", "rate-429=0").status, 200);
  const auto throttled_at = std::chrono::steady_clock::now();

  // Requests already in flight, or reserved up to rate_lookahead (100 ms)
  // ahead, may still arrive just after the 429; none may arrive after that
  // until the 2 s pause ends.
  std::this_thread::sleep_for(400ms);
  const long long during_start = provider_stat("status_requests");
  std::this_thread::sleep_until(throttled_at + 1500ms);
  const long long during_end = provider_stat("status_requests");
  EXPECT_EQ(during_end, during_start) << log("a.log") << log("b.log");

  // Both instances resume after the pause.
  ASSERT_TRUE(smm::test::eventually([&] { return provider_stat("status_requests") > during_end + 20; }, 10s));
  const std::string a = log("a.log");
  const std::string b = log("b.log");
  for (const std::string* text : {&a, &b}) {
    const bool paused = text->find("provider_throttled") != std::string::npos ||
                        text->find("provider_paused source=shared") != std::string::npos;
    EXPECT_TRUE(paused) << *text;
  }
}

TEST_F(LimitsTest, RejectedCredentialsOpenSharedCircuit) {
  start_provider();
  const std::string config = write_config({{"provider.circuit_cooldown", "\"2s\""}});
  auto ids = insert_orders(1300001, 20);
  push(ids);
  Process& wrong = start_daemon(config, "wrong.log", "example-wrong-key");

  ASSERT_TRUE(smm::test::eventually([&] { return redis_->integer({"EXISTS", key("circuit")}) == 1; }, 30s))
      << log("wrong.log");
  EXPECT_NE(log("wrong.log").find("provider_circuit_open"), std::string::npos);
  // Polling stops: within one cool-down at most the requests already in
  // flight and one probe reach the provider.
  std::this_thread::sleep_for(300ms);
  const long long failures = provider_stat("auth_failures");
  std::this_thread::sleep_for(1500ms);
  EXPECT_LE(provider_stat("auth_failures") - failures, 1);
  // No order burned a rejection: each meta value is "since_ms:0:failures".
  for (const auto& meta : redis_->command({"HVALS", key("meta")})) {
    EXPECT_EQ(meta.substr(meta.find(':'), 3), ":0:") << meta;
  }
  EXPECT_EQ(redis_->integer({"LLEN", key("dead")}), 0);
  EXPECT_EQ(count_where("provider_synced_at IS NOT NULL"), 0);

  // A second instance with the right key finds the circuit open, probes
  // after the cool-down, closes it, and syncs everything.
  wrong.signal(SIGTERM);
  ASSERT_TRUE(wrong.wait(10s).has_value());
  start_daemon(config, "right.log");
  ASSERT_TRUE(smm::test::eventually([&] { return not_final() == 0; }, kSyncTimeout)) << log("right.log");
  const std::string right = log("right.log");
  EXPECT_NE(right.find("provider_circuit_open source=shared"), std::string::npos) << right;
  EXPECT_NE(right.find("provider_circuit_probe"), std::string::npos) << right;
  EXPECT_NE(right.find("provider_circuit_closed"), std::string::npos) << right;
  EXPECT_EQ(redis_->integer({"EXISTS", key("circuit")}), 0);
  EXPECT_EQ(redis_->integer({"LLEN", key("dead")}), 0);
}

TEST_F(LimitsTest, TransientStormLosesNothing) {
  start_provider({"--rate-5xx", "0.5"});
  const std::string config = write_config({{"provider.rate_limit", "200.0"}, {"provider.burst", "20"}});
  auto ids = insert_orders(1400001, 150);
  push(ids);
  start_daemon(config, "a.log");
  start_daemon(config, "b.log");

  ASSERT_TRUE(smm::test::eventually([&] { return provider_stat("http_5xx") >= 100; }, 60s)) << log("a.log");
  ASSERT_EQ(provider_->post("/control", "rate-5xx=0").status, 200);

  ASSERT_TRUE(smm::test::eventually([&] { return not_final() == 0; }, kSyncTimeout))
      << not_final() << " not final\n" << log("a.log");
  EXPECT_EQ(redis_->integer({"LLEN", key("dead")}), 0);
  EXPECT_EQ(count_where("provider_synced_at IS NULL"), 0);
  EXPECT_TRUE(smm::test::eventually([&] { return redis_->integer({"ZCARD", key("schedule")}) == 0; }, 10s));
}

TEST_F(LimitsTest, DeadLettersRequeueBringsOrderBack) {
  start_provider();
  const std::string config = write_config({});
  auto ids = insert_orders(1500001, 1);
  redis_->command({"LPUSH", key("dead"), R"({"payload":"1500001","reason":"test entry","at":1})"});
  start_daemon(config, "a.log");

  std::string output;
  ASSERT_EQ(smm::test::run_command(SMM_DAEMON_PATH, {"dead-letters", "--config", config}, &output), 0)
      << output;
  EXPECT_NE(output.find("test entry"), std::string::npos) << output;

  ASSERT_EQ(smm::test::run_command(SMM_DAEMON_PATH,
                                   {"dead-letters", "--config", config, "--requeue", "1500001"}, &output),
            0)
      << output;
  EXPECT_NE(output.find("requeued 1"), std::string::npos) << output;
  EXPECT_EQ(redis_->integer({"LLEN", key("dead")}), 0);
  ASSERT_TRUE(smm::test::eventually([&] { return not_final() == 0; }, kSyncTimeout)) << log("a.log");

  ASSERT_EQ(smm::test::run_command(SMM_DAEMON_PATH,
                                   {"dead-letters", "--config", config, "--requeue", "abc"}, &output),
            2);
  EXPECT_NE(output.find("invalid order id"), std::string::npos) << output;
}
