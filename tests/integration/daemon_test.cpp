// End-to-end tests: the smm-syncd binary against a real Redis, a real
// PostgreSQL and the fake provider process.

#include <csignal>
#include <set>
#include <string>
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

struct Truth {
  std::string status;  // provider word, e.g. "Success"
  long long start_count = 0;
  long long remains = 0;
};

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

Truth truth_of(const FakeProvider& provider, const std::string& id) {
  rapidjson::Document doc;
  doc.Parse(provider.get("/truth?id=" + id).c_str());
  Truth truth;
  truth.status = doc["status"].GetString();
  truth.start_count = doc["start_count"].GetInt64();
  truth.remains = doc["remains"].GetInt64();
  return truth;
}

// One daemon test's world: a table, a key prefix, a fake provider, and a
// config file pointing at them.
class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (smm::test::redis_url().empty() || smm::test::pg_conninfo().empty()) {
      GTEST_SKIP() << "SMM_TEST_REDIS_URL and SMM_TEST_PG_CONNINFO are unset; run scripts/test";
    }
    prefix_ = smm::test::unique_name("e2e");
    table_ = smm::test::unique_name("orders");
    redis_ = std::make_unique<SyncRedis>(smm::test::redis_url());
    pg_ = std::make_unique<SyncPg>(smm::test::pg_conninfo());
    pg_->exec("CREATE TABLE " + table_ +
              " (id bigserial PRIMARY KEY, provider_order_id bigint UNIQUE NOT NULL,"
              " status text NOT NULL DEFAULT 'pending', start_count bigint, remains bigint,"
              " provider_synced_at timestamptz)");
  }

  void TearDown() override {
    daemon_.reset();
    if (pg_) pg_->exec("DROP TABLE IF EXISTS " + table_);
  }

  void start_provider(std::vector<std::string> args = {}) {
    provider_ = std::make_unique<FakeProvider>(dir_, std::move(args));
  }

  // Writes the config file: test defaults (short intervals, a generous
  // rate) with `overrides` ("section.key" -> TOML value) applied.
  void write_config(const std::map<std::string, std::string>& overrides = {}) {
    std::map<std::string, std::map<std::string, std::string>> sections;
    auto set = [&](const std::string& dotted, const std::string& value) {
      auto dot = dotted.find('.');
      sections[dotted.substr(0, dot)][dotted.substr(dot + 1)] = value;
    };
    set("provider.base_url", "\"" + provider_->base_url() + "\"");
    set("provider.rate_limit", "500.0");
    set("provider.burst", "50");
    set("provider.max_in_flight", "32");
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
    dir_.write("smm-syncd.toml", text);
  }

  void start_daemon(const std::string& log_name = "daemon.log") {
    daemon_ = std::make_unique<Process>(
        SMM_DAEMON_PATH, std::vector<std::string>{"run", "--config", dir_.file("smm-syncd.toml")},
        dir_.file(log_name),
        std::map<std::string, std::string>{{"CENTRALSMM_API_ID", FakeProvider::kApiId},
                                           {"CENTRALSMM_API_KEY", FakeProvider::kApiKey},
                                           {"CENTRALSMM_SECRET_KEY", FakeProvider::kSecretKey}});
  }

  std::string key(const std::string& name) const { return "{" + prefix_ + "}:" + name; }

  std::vector<std::string> insert_orders(long long first, int count) {
    pg_->exec("INSERT INTO " + table_ + " (provider_order_id) SELECT g FROM generate_series(" +
              std::to_string(first) + ", " + std::to_string(first + count - 1) + ") AS g");
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) ids.push_back(std::to_string(first + i));
    return ids;
  }

  void push(const std::vector<std::string>& payloads) {
    for (const auto& payload : payloads) redis_->command({"LPUSH", key("inbox"), payload});
  }

  long long count_where(const std::string& condition) {
    return std::stoll(
        pg_->query("SELECT count(*) FROM " + table_ + " WHERE " + condition)[0][0]);
  }

  long long not_final() {
    return count_where("status NOT IN ('success','partial','error','canceled')");
  }

  bool wait_all_final(std::chrono::milliseconds timeout = kSyncTimeout) {
    return smm::test::eventually([&] { return not_final() == 0; }, timeout);
  }

  // Checks that every row contains exactly the provider's final status and counts.
  void expect_rows_match_truth(const std::vector<std::string>& ids) {
    for (const auto& id : ids) {
      auto row = pg_->query("SELECT status, start_count, remains FROM " + table_ +
                            " WHERE provider_order_id = " + id);
      ASSERT_EQ(row.size(), 1u) << id;
      Truth truth = truth_of(*provider_, id);
      EXPECT_EQ(row[0][0], lower(truth.status)) << "id " << id;
      EXPECT_EQ(row[0][1], std::to_string(truth.start_count)) << "id " << id;
      EXPECT_EQ(row[0][2], std::to_string(truth.remains)) << "id " << id;
    }
  }

  std::string daemon_log() const { return smm::test::read_file(dir_.file("daemon.log")); }

  TempDir dir_;
  std::string prefix_;
  std::string table_;
  std::unique_ptr<SyncRedis> redis_;
  std::unique_ptr<SyncPg> pg_;
  std::unique_ptr<FakeProvider> provider_;
  std::unique_ptr<Process> daemon_;
};

}  // namespace

TEST_F(DaemonTest, SyncsOrdersToFinalStatus) {
  start_provider();
  write_config({{"log.progress_interval", "\"100ms\""}});
  auto ids = insert_orders(1000001, 200);
  push(ids);
  start_daemon();

  ASSERT_TRUE(wait_all_final()) << not_final() << " rows not final\n" << daemon_log();
  expect_rows_match_truth(ids);
  EXPECT_TRUE(smm::test::eventually([&] { return redis_->integer({"ZCARD", key("schedule")}) == 0; }, 10s));
  EXPECT_EQ(redis_->integer({"LLEN", key("dead")}), 0);
  EXPECT_EQ(count_where("provider_synced_at IS NULL"), 0);
  const std::string log = daemon_log();
  EXPECT_NE(log.find("progress polls="), std::string::npos) << log;
  for (const char* secret : {FakeProvider::kApiId, FakeProvider::kApiKey, FakeProvider::kSecretKey}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "secret in log: " << secret;
  }
}

TEST_F(DaemonTest, AcceptsNumbersAsStrings) {
  start_provider({"--numbers-as-strings"});
  write_config();
  auto ids = insert_orders(2000001, 50);
  push(ids);
  start_daemon();

  ASSERT_TRUE(wait_all_final()) << daemon_log();
  expect_rows_match_truth(ids);
}

TEST_F(DaemonTest, UnknownStatusWordIsNotWritten) {
  start_provider();
  write_config({{"poll.unknown_status_interval", "\"100ms\""}});
  auto unknown = insert_orders(5550001, 3);
  auto known = insert_orders(3000001, 10);
  push(unknown);
  push(known);
  start_daemon();

  ASSERT_TRUE(smm::test::eventually(
      [&] { return count_where("provider_order_id < 5550000 AND status = 'pending'") == 0; },
      kSyncTimeout));
  // The unknown ids are polled again and again but never written.
  ASSERT_TRUE(smm::test::eventually(
      [&] {
        rapidjson::Document doc;
        doc.Parse(provider_->get("/stats").c_str());
        return doc["unknown_status"].GetInt() >= 9;
      },
      30s)) << daemon_log();
  EXPECT_EQ(count_where("provider_order_id >= 5550001 AND provider_synced_at IS NOT NULL"), 0);
  EXPECT_EQ(count_where("provider_order_id >= 5550001 AND status = 'pending'"), 3);
  EXPECT_FALSE(redis_->command({"ZSCORE", key("schedule"), "5550001"}).empty());
  EXPECT_NE(daemon_log().find("unknown_status_word"), std::string::npos);
}

TEST_F(DaemonTest, RetriesProviderFaultsUntilSuccess) {
  start_provider({"--rate-5xx", "0.3", "--rate-429", "0.1", "--retry-after", "1",
                  "--rate-html", "0.1", "--rate-malformed", "0.1", "--rate-slow", "0.05",
                  "--slow-ms", "3000"});
  write_config();
  auto ids = insert_orders(4000001, 100);
  push(ids);
  start_daemon();

  ASSERT_TRUE(wait_all_final(120s)) << not_final() << " not final\n" << daemon_log();
  expect_rows_match_truth(ids);
  EXPECT_EQ(redis_->integer({"LLEN", key("dead")}), 0);
  rapidjson::Document stats;
  stats.Parse(provider_->get("/stats").c_str());
  EXPECT_GT(stats["http_5xx"].GetInt(), 0);
  EXPECT_GT(stats["http_429"].GetInt(), 0);
  EXPECT_GT(stats["slow"].GetInt(), 0);
}

TEST_F(DaemonTest, InvalidPayloadsGoToDeadList) {
  start_provider();
  write_config();
  auto ids = insert_orders(6000001, 5);
  push({"", "   ", "-5", "123456789012345678901", "abc", "{\"id\":1}", " 6000001 "});
  push(ids);
  start_daemon();

  ASSERT_TRUE(wait_all_final()) << daemon_log();
  ASSERT_TRUE(smm::test::eventually(
      [&] { return redis_->integer({"LLEN", key("dead")}) == 6; }, 10s));
  auto dead = redis_->command({"LRANGE", key("dead"), "0", "-1"});
  std::set<std::string> payloads;
  for (const auto& entry : dead) {
    rapidjson::Document doc;
    doc.Parse(entry.c_str());
    ASSERT_FALSE(doc.HasParseError()) << entry;
    ASSERT_TRUE(doc.HasMember("reason")) << entry;
    EXPECT_FALSE(std::string(doc["reason"].GetString()).empty()) << entry;
    ASSERT_TRUE(doc.HasMember("at")) << entry;
    payloads.insert(doc["payload"].GetString());
  }
  EXPECT_EQ(payloads.count("abc"), 1u);
  EXPECT_EQ(payloads.count("-5"), 1u);
  EXPECT_EQ(payloads.count("123456789012345678901"), 1u);
}

TEST_F(DaemonTest, OrderNotFoundDeadAfterMaxAttempts) {
  start_provider();
  write_config({{"poll.max_attempts", "3"},
                {"poll.rejection_base", "\"20ms\""},
                {"poll.rejection_cap", "\"100ms\""}});
  auto missing = insert_orders(4040001, 2);
  push(missing);
  start_daemon();

  ASSERT_TRUE(smm::test::eventually(
      [&] { return redis_->integer({"LLEN", key("dead")}) == 2; }, 30s)) << daemon_log();
  auto dead = redis_->command({"LRANGE", key("dead"), "0", "-1"});
  for (const auto& entry : dead) {
    EXPECT_NE(entry.find("Pesanan tidak ditemukan"), std::string::npos) << entry;
  }
  rapidjson::Document doc;
  doc.Parse(provider_->get("/stats").c_str());
  EXPECT_EQ(doc["not_found"].GetInt(), 6);  // 3 attempts for each of 2 ids
  EXPECT_EQ(redis_->integer({"ZCARD", key("schedule")}), 0);
  EXPECT_EQ(count_where("provider_synced_at IS NOT NULL"), 0);
}

TEST_F(DaemonTest, WrongCredentialsWriteNothing) {
  start_provider();
  write_config({{"provider.api_key", "\"example-wrong-key\""}});
  auto ids = insert_orders(7000001, 5);
  push(ids);
  // The file's key is overridden by the environment, so use a daemon whose
  // environment lacks CENTRALSMM_API_KEY.
  daemon_ = std::make_unique<Process>(
      SMM_DAEMON_PATH, std::vector<std::string>{"run", "--config", dir_.file("smm-syncd.toml")},
      dir_.file("daemon.log"),
      std::map<std::string, std::string>{{"CENTRALSMM_API_ID", FakeProvider::kApiId},
                                         {"CENTRALSMM_SECRET_KEY", FakeProvider::kSecretKey}});

  // The first rejections open the shared provider circuit, which stops polling.
  ASSERT_TRUE(smm::test::eventually(
      [&] { return redis_->integer({"EXISTS", key("circuit")}) == 1; }, 30s)) << daemon_log();
  rapidjson::Document doc;
  doc.Parse(provider_->get("/stats").c_str());
  EXPECT_GE(doc["auth_failures"].GetInt(), 1);
  EXPECT_TRUE(smm::test::eventually(
      [&] { return redis_->integer({"HLEN", key("lease")}) == 0; }, 10s)) << "claims not handed back";
  EXPECT_EQ(count_where("provider_synced_at IS NOT NULL"), 0);
  EXPECT_EQ(redis_->integer({"LLEN", key("dead")}), 0);
  EXPECT_EQ(redis_->integer({"ZCARD", key("schedule")}), 5);
  // No order burned a rejection: each meta value is "since_ms:0:failures".
  for (const auto& meta : redis_->command({"HVALS", key("meta")})) {
    EXPECT_EQ(meta.substr(meta.find(':'), 3), ":0:") << meta;
  }
  EXPECT_NE(daemon_log().find("provider_rejected_account"), std::string::npos);
}

TEST_F(DaemonTest, MaxInFlightCapsConcurrentRequests) {
  start_provider({"--latency-ms", "100"});
  write_config({{"provider.max_in_flight", "4"}, {"poll.max_claimed", "32"}});
  auto ids = insert_orders(8500001, 60);
  push(ids);
  start_daemon();

  ASSERT_TRUE(wait_all_final()) << daemon_log();
  expect_rows_match_truth(ids);
  rapidjson::Document stats;
  stats.Parse(provider_->get("/stats").c_str());
  // Connections the fake saw open at once: curl keeps at most one per
  // request in flight. This test's own /truth and /stats requests add one,
  // and a connection curl replaces can still count for a moment while the
  // fake has not yet read its close. Without the cap 32 would be open.
  EXPECT_LE(stats["max_concurrent"].GetInt(), 4 + 2);
  EXPECT_GE(stats["max_concurrent"].GetInt(), 2);
}

TEST_F(DaemonTest, SurvivesSigkillAndRestart) {
  start_provider({"--latency-ms", "20"});
  write_config({{"poll.lease", "\"3s\""}, {"provider.rate_limit", "200.0"}});
  auto ids = insert_orders(8000001, 300);
  push(ids);

  // Kill the daemon three times while it works, each time once more rows
  // are final, then let a fresh one finish.
  long long final_before = 0;
  for (int round = 0; round < 3; ++round) {
    const std::string log_name = "daemon-" + std::to_string(round) + ".log";
    start_daemon(log_name);
    ASSERT_TRUE(smm::test::eventually(
        [&] { return 300 - not_final() > final_before + 20; }, kSyncTimeout))
        << smm::test::read_file(dir_.file(log_name));
    daemon_->signal(SIGKILL);
    daemon_->wait(5s);
    final_before = 300 - not_final();
  }
  ASSERT_LT(final_before, 300) << "the run finished before the kills; make it longer";

  start_daemon();
  ASSERT_TRUE(wait_all_final()) << not_final() << " not final\n" << daemon_log();
  expect_rows_match_truth(ids);
  EXPECT_EQ(redis_->integer({"LLEN", key("dead")}), 0);
}

TEST_F(DaemonTest, SigtermExitsZeroAndHandsBackIds) {
  start_provider({"--latency-ms", "200"});
  write_config({{"poll.lease", "\"60s\""}, {"provider.rate_limit", "100.0"}});
  auto ids = insert_orders(9000001, 200);
  push(ids);
  start_daemon();

  ASSERT_TRUE(smm::test::eventually(
      [&] {
        rapidjson::Document doc;
        doc.Parse(provider_->get("/stats").c_str());
        return doc["status_requests"].GetInt() >= 40;
      },
      30s)) << daemon_log();
  daemon_->signal(SIGTERM);
  auto code = daemon_->wait(10s);
  ASSERT_TRUE(code.has_value()) << "no exit within the grace period";
  EXPECT_EQ(*code, 0) << daemon_log();

  // Nothing is leased any more, and every id not final is still scheduled.
  EXPECT_EQ(redis_->integer({"HLEN", key("lease")}), 0);
  auto rows = pg_->query("SELECT provider_order_id FROM " + table_ +
                         " WHERE status NOT IN ('success','partial','error','canceled')");
  ASSERT_FALSE(rows.empty());
  for (const auto& row : rows) {
    EXPECT_FALSE(redis_->command({"ZSCORE", key("schedule"), row[0]}).empty()) << row[0];
  }

  // A new daemon picks them up at once (handed back ids are due now) and finishes.
  start_daemon("daemon-2.log");
  ASSERT_TRUE(wait_all_final()) << daemon_log();
  expect_rows_match_truth(ids);
}
