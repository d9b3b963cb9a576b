#include "config/config.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/support.hpp"

namespace smm::config {
namespace {

using namespace std::chrono_literals;

constexpr const char* kMinimal = "[provider]\nbase_url = \"https://centralsmm.co.id\"\n";

class FakeEnvironment final : public Environment {
 public:
  std::map<std::string, std::string> variables;

  const char* get(const char* name) const override {
    auto found = variables.find(name);
    return found == variables.end() ? nullptr : found->second.c_str();
  }
};

FakeEnvironment environment_with_secrets() {
  FakeEnvironment env;
  env.variables = {{"CENTRALSMM_API_ID", "example-api-id-canary"},
                   {"CENTRALSMM_API_KEY", "example-api-key-canary"},
                   {"CENTRALSMM_SECRET_KEY", "example-secret-key-canary"}};
  return env;
}

// The example config shipped in config/, found from this file's path.
std::string example_config_path() {
  return (std::filesystem::path(__FILE__).parent_path() / "../../../config/smm-syncd.toml")
      .lexically_normal()
      .string();
}

Config load(const std::string& text, const Environment& env = environment_with_secrets()) {
  return load_string(text, "test.toml", env);
}

// Loads `text` and returns the ConfigError it raised, or nullopt.
std::optional<ConfigError> load_error(const std::string& text,
                                      const Environment& env = environment_with_secrets()) {
  try {
    load(text, env);
  } catch (const ConfigError& error) {
    return error;
  }
  return std::nullopt;
}

// -- Defaults and reading ----------------------------------------------------

TEST(Config, DefaultsApplyWhenOnlyBaseUrlIsSet) {
  const Config config = load(kMinimal);
  const Config defaults;

  EXPECT_EQ(config.source_file, "test.toml");
  EXPECT_EQ(config.provider.base_url, "https://centralsmm.co.id");
  EXPECT_EQ(config.provider.request_timeout, 15s);
  EXPECT_EQ(config.provider.connect_timeout, 5s);
  EXPECT_EQ(config.provider.rate_limit, 5.0);
  EXPECT_EQ(config.provider.burst, 5);
  EXPECT_EQ(config.provider.max_in_flight, 16);
  EXPECT_EQ(config.provider.account_error_patterns, defaults.provider.account_error_patterns);
  EXPECT_EQ(config.provider.rate_headroom, 0.02);
  EXPECT_EQ(config.provider.burst_margin, 20ms);
  EXPECT_EQ(config.provider.rate_lookahead, 100ms);
  EXPECT_EQ(config.provider.local_rate_share, 1.0);
  EXPECT_EQ(config.provider.throttle_backoff, 0.5);
  EXPECT_EQ(config.provider.throttle_floor, 0.1);
  EXPECT_EQ(config.provider.throttle_recovery, 0.05);
  EXPECT_EQ(config.provider.throttle_hold, 1s);
  EXPECT_EQ(config.provider.max_pause, 5min);
  EXPECT_EQ(config.provider.circuit_cooldown, 60s);
  EXPECT_EQ(config.redis.url, "redis://127.0.0.1:6379/0");
  EXPECT_EQ(config.redis.key_prefix, "smm-syncd");
  EXPECT_EQ(config.postgres.table, "orders");
  EXPECT_EQ(config.postgres.synced_at_column, "provider_synced_at");
  EXPECT_EQ(config.postgres.batch_size, 500);
  EXPECT_EQ(config.postgres.batch_delay, 20ms);
  EXPECT_EQ(config.poll.lease, 120s);
  EXPECT_EQ(config.poll.give_up_after, std::chrono::hours(24 * 30));
  EXPECT_EQ(config.poll.final_statuses, (std::vector<std::string>{"success", "partial", "error", "canceled"}));
  EXPECT_EQ(config.health.listen, "127.0.0.1:9580");
  EXPECT_EQ(config.health.port_file, "");
  EXPECT_EQ(config.health.max_request_bytes, 8192u);
  EXPECT_EQ(config.health.read_timeout, 5s);
  EXPECT_EQ(config.health.max_connections, 16);
  EXPECT_EQ(config.health.loop_check_interval, 1s);
  EXPECT_EQ(config.health.stall_threshold, 5s);
  EXPECT_EQ(config.health.stats_interval, 5s);
  EXPECT_EQ(config.health.status_interval, 5s);
  EXPECT_EQ(config.log.level, "info");
  EXPECT_EQ(config.log.format, "text");
  EXPECT_EQ(config.shutdown.grace, 20s);
  EXPECT_EQ(config.shutdown.hand_back_timeout, defaults.shutdown.hand_back_timeout);
}

TEST(Config, DefaultStatusMapIsTheSpecMap) {
  const std::map<std::string, std::string> expected{
      {"pending", "pending"}, {"processing", "processing"}, {"in progress", "processing"},
      {"success", "success"}, {"completed", "success"},     {"partial", "partial"},
      {"error", "error"},     {"canceled", "canceled"},     {"cancelled", "canceled"}};
  EXPECT_EQ(load(kMinimal).status_map, expected);
}

struct ValidationCase {
  std::string text;  // appended after [provider] base_url, unless it sets base_url itself
  std::string key;
  std::string problem;
};

void expect_validation_error(const ValidationCase& c) {
  SCOPED_TRACE(c.text);
  const bool own_base_url = c.text.find("base_url") != std::string::npos;
  const std::string text = own_base_url ? c.text : std::string(kMinimal) + c.text;
  auto error = load_error(text + "\n");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->file(), "test.toml");
  EXPECT_EQ(error->key(), c.key);
  EXPECT_NE(error->problem().find(c.problem), std::string::npos) << error->problem();
  EXPECT_NE(std::string(error->what()).find("test.toml: " + c.key + ": "), std::string::npos);
}

TEST(Config, ReadsEveryValueType) {
  const Config config = load(R"(
[provider]
base_url = "http://127.0.0.1:8080"
api_id = "file-id"
rate_limit = 2.5
burst = 12
max_response_bytes = 1048576
user_agent = "panel-sync/2"
account_error_patterns = ["blocked"]
[redis]
reconnect_max = "1m"
[postgres]
batch_delay = "0ms"
[poll]
give_up_after = "7d"
lease = "1h"
final_statuses = ["success"]
jitter = 0
[log]
level = "debug"
format = "json"
)");
  EXPECT_EQ(config.provider.base_url, "http://127.0.0.1:8080");
  EXPECT_EQ(config.provider.rate_limit, 2.5);
  EXPECT_EQ(config.provider.burst, 12);
  EXPECT_EQ(config.provider.max_response_bytes, 1048576u);
  EXPECT_EQ(config.provider.user_agent, "panel-sync/2");
  EXPECT_EQ(config.provider.account_error_patterns, std::vector<std::string>{"blocked"});
  EXPECT_EQ(config.redis.reconnect_max, 1min);
  EXPECT_EQ(config.postgres.batch_delay, 0ms);
  EXPECT_EQ(config.poll.give_up_after, std::chrono::hours(24 * 7));
  EXPECT_EQ(config.poll.lease, 1h);
  EXPECT_EQ(config.poll.final_statuses, std::vector<std::string>{"success"});
  EXPECT_EQ(config.poll.jitter, 0.0);
  EXPECT_EQ(config.log.level, "debug");
  EXPECT_EQ(config.log.format, "json");
}

TEST(Config, IntegerIsAcceptedForNumberKeys) {
  const Config config = load(std::string(kMinimal) + "rate_limit = 7\n");
  EXPECT_EQ(config.provider.rate_limit, 7.0);
}

TEST(Config, WrongTypesAreRejectedWithTheTomlType) {
  const std::vector<ValidationCase> cases{
      {"[provider]\nbase_url = 5", "provider.base_url", "expected a string, got integer"},
      {"burst = \"5\"", "provider.burst", "expected an integer, got string"},
      {"burst = 5.0", "provider.burst", "expected an integer, got float"},
      {"rate_limit = true", "provider.rate_limit", "expected a number, got boolean"},
      {"rate_limit = nan", "provider.rate_limit", "must be a finite number"},
      {"api_key = 123", "provider.api_key", "expected a string, got integer"},
      {"max_response_bytes = -1", "provider.max_response_bytes", "must not be negative"},
      {"max_in_flight = 3000000000", "provider.max_in_flight", "3000000000 is out of range"},
      {"[poll]\nfinal_statuses = \"success\"", "poll.final_statuses",
       "expected an array of strings, got string"},
      {"[poll]\nfinal_statuses = [\"success\", 2]", "poll.final_statuses",
       "expected an array of strings, got integer at index 1"},
      {"[poll]\nlease = 120", "poll.lease",
       "expected a duration string, got integer; durations need a unit, e.g. \"15s\""},
      {"[poll]\nlease = 1979-05-27", "poll.lease", "expected a duration string such as \"15s\", got date"},
      {"[log]\nlevel = [\"info\"]", "log.level", "expected a string, got array"},
      {"[status_map]\npending = 1", "status_map.pending", "expected a string, got integer"},
  };
  for (const auto& c : cases) expect_validation_error(c);
}

TEST(Config, SectionOfWrongTypeIsRejected) {
  auto error = load_error("provider = 5\n");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->key(), "provider");
  EXPECT_EQ(error->problem(), "expected a table, got integer");
}

// -- Unknown keys, files and syntax -----------------------------------------

TEST(Config, UnknownKeyIsRejected) {
  auto error = load_error(std::string(kMinimal) + "request_timout = \"15s\"\n");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->key(), "provider.request_timout");
  EXPECT_EQ(error->problem(), "unknown key");
  EXPECT_STREQ(error->what(), "test.toml: provider.request_timout: unknown key");
}

TEST(Config, UnknownSectionIsRejected) {
  auto error = load_error(std::string(kMinimal) + "[metrics]\nlisten = \"x\"\n");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->key(), "metrics");
  EXPECT_EQ(error->problem(), "unknown section");
}

TEST(Config, TopLevelKeyIsRejected) {
  auto error = load_error(std::string("base_url = \"https://x\"\n") + kMinimal);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->key(), "base_url");
  EXPECT_NE(error->problem().find("unknown key"), std::string::npos);
}

TEST(Config, NestedTableIsAnUnknownKey) {
  auto error = load_error(std::string(kMinimal) + "[provider.tls]\nverify = false\n");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->key(), "provider.tls");
  EXPECT_EQ(error->problem(), "unknown key");
}

TEST(Config, MissingFileNamesThePath) {
  smm::test::TempDir dir;
  const auto path = dir.file("absent.toml");
  try {
    load_file(path, environment_with_secrets());
    FAIL() << "no error for a missing file";
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.file(), path);
    EXPECT_EQ(error.key(), "");
    EXPECT_EQ(error.problem(), "file not found");
    EXPECT_EQ(std::string(error.what()), path + ": file not found");
  }
}

TEST(Config, DirectoryInPlaceOfFileIsRejected) {
  smm::test::TempDir dir;
  try {
    load_file(dir.path(), environment_with_secrets());
    FAIL() << "no error for a directory";
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.file(), dir.path());
    EXPECT_NE(error.problem().find("is a directory"), std::string::npos);
  }
}

TEST(Config, LoadFileReadsTheFile) {
  smm::test::TempDir dir;
  dir.write("smm-syncd.toml", std::string(kMinimal) + "burst = 9\n");
  const Config config = load_file(dir.file("smm-syncd.toml"), environment_with_secrets());
  EXPECT_EQ(config.source_file, dir.file("smm-syncd.toml"));
  EXPECT_EQ(config.provider.burst, 9);
}

TEST(Config, SyntaxErrorGivesLineAndColumn) {
  auto error = load_error(std::string(kMinimal) + "burst = = 5\n");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->file(), "test.toml");
  EXPECT_EQ(error->key(), "");
  EXPECT_EQ(error->problem().rfind("TOML syntax error at line 3 column ", 0), 0u) << error->problem();
  EXPECT_EQ(std::string(error->what()).rfind("test.toml: TOML syntax error at line 3", 0), 0u);
}

TEST(Config, DuplicateKeyIsASyntaxError) {
  auto error = load_error(std::string(kMinimal) + "burst = 1\nburst = 2\n");
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->problem().find("TOML syntax error at line 4"), std::string::npos) << error->problem();
}

// -- Durations ----------------------------------------------------------------

TEST(ParseDuration, AcceptsEveryUnit) {
  EXPECT_EQ(parse_duration("20ms"), 20ms);
  EXPECT_EQ(parse_duration("15s"), 15s);
  EXPECT_EQ(parse_duration("5m"), 5min);
  EXPECT_EQ(parse_duration("2h"), 2h);
  EXPECT_EQ(parse_duration("30d"), std::chrono::hours(24 * 30));
  EXPECT_EQ(parse_duration("0s"), 0ms);
}

TEST(ParseDuration, RejectsMalformedText) {
  struct Case {
    std::string text;
    std::string problem;
  };
  const std::vector<Case> cases{
      {"", "durations need a unit, e.g. \"15s\""},
      {"15", "durations need a unit, e.g. \"15s\""},
      {"1.5s", "whole number; use a smaller unit"},
      {"15x", "unknown unit 'x'"},
      {"15 s", "unknown unit ' s'"},
      {"15S", "unknown unit 'S'"},
      {"-5s", "expected a whole number followed by a unit"},
      {" 15s", "expected a whole number followed by a unit"},
      {"s", "expected a whole number followed by a unit"},
      {"99999999999999999999s", "too large"},
      {"200000000000d", "too large"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    try {
      parse_duration(c.text);
      ADD_FAILURE() << "accepted";
    } catch (const std::invalid_argument& error) {
      const std::string message = error.what();
      EXPECT_NE(message.find("invalid duration '" + c.text + "'"), std::string::npos) << message;
      EXPECT_NE(message.find(c.problem), std::string::npos) << message;
    }
  }
}

TEST(Config, BareNumberDurationStringGetsAHint) {
  auto error = load_error(std::string(kMinimal) + "request_timeout = \"15\"\n");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->key(), "provider.request_timeout");
  EXPECT_EQ(error->problem(), "invalid duration '15': durations need a unit, e.g. \"15s\"");
}

// -- Validation ---------------------------------------------------------------

TEST(Config, BaseUrlIsRequired) {
  auto error = load_error("[log]\nlevel = \"info\"\n");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->key(), "provider.base_url");
  EXPECT_EQ(error->problem(), "missing: set the provider's URL, e.g. \"https://centralsmm.co.id\"");
}

TEST(Config, ProviderValuesAreValidated) {
  const std::vector<ValidationCase> cases{
      {"[provider]\nbase_url = \"\"", "provider.base_url", "missing"},
      {"[provider]\nbase_url = \"ftp://centralsmm.co.id\"", "provider.base_url", "http:// or https://"},
      {"[provider]\nbase_url = \"centralsmm.co.id\"", "provider.base_url", "http:// or https://"},
      {"[provider]\nbase_url = \"https://\"", "provider.base_url", "http:// or https://"},
      {"[provider]\nbase_url = \"https://a b\"", "provider.base_url", "spaces"},
      {"rate_limit = 0", "provider.rate_limit", "must be greater than 0"},
      {"rate_limit = -1.5", "provider.rate_limit", "must be greater than 0"},
      {"burst = 0", "provider.burst", "must be at least 1, got 0"},
      {"max_in_flight = 0", "provider.max_in_flight", "between 1 and 10000, got 0"},
      {"max_in_flight = 10001", "provider.max_in_flight", "between 1 and 10000, got 10001"},
      {"max_response_bytes = 0", "provider.max_response_bytes", "at least 1"},
      {"connect_timeout = \"0s\"", "provider.connect_timeout", "must be greater than 0"},
      {"request_timeout = \"0ms\"", "provider.request_timeout", "must be greater than 0"},
      {"ca_file = \"/nonexistent/ca.pem\"", "provider.ca_file", "file not found: /nonexistent/ca.pem"},
      {"user_agent = \"a\\r\\nX-Injected: 1\"", "provider.user_agent", "control characters"},
      {"account_error_patterns = [\"api key\", \"\"]", "provider.account_error_patterns",
       "index 1 is empty"},
      {"rate_headroom = -0.1", "provider.rate_headroom", "at least 0 and at most 0.5, got -0.1"},
      {"rate_headroom = 0.6", "provider.rate_headroom", "at most 0.5"},
      {"burst_margin = \"-1ms\"", "provider.burst_margin", "invalid duration"},
      {"rate_lookahead = \"0ms\"", "provider.rate_lookahead", "must be greater than 0"},
      {"local_rate_share = 0", "provider.local_rate_share", "greater than 0 and at most 1, got 0"},
      {"local_rate_share = 1.5", "provider.local_rate_share", "at most 1"},
      {"throttle_backoff = 1", "provider.throttle_backoff", "greater than 0 and less than 1, got 1"},
      {"throttle_floor = 0", "provider.throttle_floor", "greater than 0"},
      {"throttle_recovery = 0", "provider.throttle_recovery", "greater than 0"},
      {"throttle_hold = \"0s\"", "provider.throttle_hold", "must be greater than 0"},
      {"max_pause = \"0s\"", "provider.max_pause", "must be greater than 0"},
      {"circuit_cooldown = \"0s\"", "provider.circuit_cooldown", "must be greater than 0"},
  };
  for (const auto& c : cases) expect_validation_error(c);
}

TEST(Config, ProviderPacingKeysAreRead) {
  const Config config = load(std::string(kMinimal) +
                             "rate_headroom = 0.05\nburst_margin = \"5ms\"\nrate_lookahead = \"250ms\"\n"
                             "local_rate_share = 0.25\nthrottle_backoff = 0.7\nthrottle_floor = 0.2\n"
                             "throttle_recovery = 0.1\nthrottle_hold = \"2s\"\nmax_pause = \"1m\"\n"
                             "circuit_cooldown = \"30s\"\n");
  EXPECT_EQ(config.provider.rate_headroom, 0.05);
  EXPECT_EQ(config.provider.burst_margin, 5ms);
  EXPECT_EQ(config.provider.rate_lookahead, 250ms);
  EXPECT_EQ(config.provider.local_rate_share, 0.25);
  EXPECT_EQ(config.provider.throttle_backoff, 0.7);
  EXPECT_EQ(config.provider.throttle_floor, 0.2);
  EXPECT_EQ(config.provider.throttle_recovery, 0.1);
  EXPECT_EQ(config.provider.throttle_hold, 2s);
  EXPECT_EQ(config.provider.max_pause, 1min);
  EXPECT_EQ(config.provider.circuit_cooldown, 30s);
}

TEST(Config, RedisValuesAreValidated) {
  const std::vector<ValidationCase> cases{
      {"[redis]\nurl = \"127.0.0.1:6379\"", "redis.url", "must start with redis://"},
      {"[redis]\nurl = \"rediss://127.0.0.1:6379\"", "redis.url", "must start with redis://"},
      {"[redis]\nurl = \"redis://\"", "redis.url", "host is missing"},
      {"[redis]\nurl = \"redis://127.0.0.1:port/0\"", "redis.url", "port must be a number"},
      {"[redis]\nurl = \"redis://127.0.0.1:0/0\"", "redis.url", "port must be a number from 1"},
      {"[redis]\nurl = \"redis://127.0.0.1:6379/zero\"", "redis.url", "database must be a number"},
      {"[redis]\nkey_prefix = \"\"", "redis.key_prefix", "must not be empty"},
      {"[redis]\nkey_prefix = \"{smm}\"", "redis.key_prefix", "must not contain '{' or '}'"},
      {"[redis]\nkey_prefix = \"a}b\"", "redis.key_prefix", "must not contain '{' or '}'"},
      {"[redis]\ncommand_timeout = \"0s\"", "redis.command_timeout", "greater than 0"},
      {"[redis]\nreconnect_min = \"0s\"", "redis.reconnect_min", "greater than 0"},
      {"[redis]\nreconnect_min = \"10s\"\nreconnect_max = \"5s\"", "redis.reconnect_max",
       "must be at least redis.reconnect_min (\"10s\"), got \"5s\""},
      {"[redis]\ndrain_batch = 0", "redis.drain_batch", "at least 1"},
      {"[redis]\nclaim_batch = -3", "redis.claim_batch", "at least 1"},
      {"[redis]\nidle_poll = \"0ms\"", "redis.idle_poll", "greater than 0"},
  };
  for (const auto& c : cases) expect_validation_error(c);
}

TEST(Config, RedisUrlFormsAreAccepted) {
  for (const char* url : {"redis://127.0.0.1:6379/0", "redis://localhost", "redis://:p@ss/w@host:6379/2",
                          "redis://[::1]:6379/0", "redis://cache.internal/"}) {
    SCOPED_TRACE(url);
    EXPECT_EQ(load(std::string(kMinimal) + "[redis]\nurl = \"" + url + "\"\n").redis.url, url);
  }
}

TEST(Config, PostgresValuesAreValidated) {
  const std::vector<ValidationCase> cases{
      {"[postgres]\ntable = \"\"", "postgres.table", "must not be empty"},
      {"[postgres]\nid_column = \"\"", "postgres.id_column", "must not be empty"},
      {"[postgres]\nstatus_column = \"\"", "postgres.status_column", "must not be empty"},
      {"[postgres]\nstart_count_column = \"\"", "postgres.start_count_column", "must not be empty"},
      {"[postgres]\nremains_column = \"\"", "postgres.remains_column", "must not be empty"},
      {"[postgres]\nremains_column = \"status\"", "postgres.remains_column",
       "\"status\" is already used by postgres.status_column"},
      {"[postgres]\nbatch_size = 0", "postgres.batch_size", "between 1 and 100000, got 0"},
      {"[postgres]\nbatch_size = 100001", "postgres.batch_size", "between 1 and 100000"},
      {"[postgres]\nmax_queued_writes = -1", "postgres.max_queued_writes", "at least 0, got -1"},
      {"[postgres]\nstatement_timeout = \"0s\"", "postgres.statement_timeout", "greater than 0"},
      {"[postgres]\nconnect_timeout = \"0s\"", "postgres.connect_timeout", "greater than 0"},
      {"[postgres]\nreconnect_min = \"0s\"", "postgres.reconnect_min", "greater than 0"},
      {"[postgres]\nreconnect_max = \"50ms\"", "postgres.reconnect_max", "at least postgres.reconnect_min"},
  };
  for (const auto& c : cases) expect_validation_error(c);
}

TEST(Config, PostgresNamesAcceptAnyText) {
  const Config config = load(std::string(kMinimal) +
                             "[postgres]\ntable = \"Panel Orders\"\nid_column = \"order\\\"id\"\n"
                             "synced_at_column = \"\"\nbatch_delay = \"0s\"\n");
  EXPECT_EQ(config.postgres.table, "Panel Orders");
  EXPECT_EQ(config.postgres.id_column, "order\"id");
  EXPECT_EQ(config.postgres.synced_at_column, "");
  EXPECT_EQ(config.postgres.batch_delay, 0ms);
}

TEST(Config, PollValuesAreValidated) {
  const std::vector<ValidationCase> cases{
      {"[poll]\npending_interval = \"0s\"", "poll.pending_interval", "greater than 0"},
      {"[poll]\nprocessing_interval = \"0s\"", "poll.processing_interval", "greater than 0"},
      {"[poll]\nunknown_status_interval = \"0s\"", "poll.unknown_status_interval", "greater than 0"},
      {"[poll]\nlease = \"15s\"", "poll.lease",
       "must be longer than provider.request_timeout (\"15s\"), got \"15s\""},
      {"request_timeout = \"3m\"\n[poll]\nlease = \"2m\"", "poll.lease", "provider.request_timeout (\"3m\")"},
      {"[poll]\nmax_attempts = 0", "poll.max_attempts", "at least 1"},
      {"[poll]\nmax_claimed = 15", "poll.max_claimed", "at least provider.max_in_flight (16), got 15"},
      {"max_in_flight = 100\n[poll]\nmax_claimed = 64", "poll.max_claimed",
       "at least provider.max_in_flight (100)"},
      {"[poll]\ngive_up_after = \"0d\"", "poll.give_up_after", "greater than 0"},
      {"[poll]\nretry_base = \"0s\"", "poll.retry_base", "greater than 0"},
      {"[poll]\nretry_cap = \"1s\"", "poll.retry_cap", "at least poll.retry_base (\"2s\"), got \"1s\""},
      {"[poll]\nrejection_base = \"0s\"", "poll.rejection_base", "greater than 0"},
      {"[poll]\nrejection_cap = \"1m\"", "poll.rejection_cap", "at least poll.rejection_base"},
      {"[poll]\njitter = 0.6", "poll.jitter", "between 0 and 0.5, got 0.6"},
      {"[poll]\njitter = -0.1", "poll.jitter", "between 0 and 0.5"},
      {"[poll]\nfinal_statuses = []", "poll.final_statuses", "at least one"},
      {"[poll]\nfinal_statuses = [\"done\"]", "poll.final_statuses",
       "final status 'done' is not a value of [status_map]"},
  };
  for (const auto& c : cases) expect_validation_error(c);
}

TEST(Config, JitterBoundsAreAccepted) {
  EXPECT_EQ(load(std::string(kMinimal) + "[poll]\njitter = 0.5\n").poll.jitter, 0.5);
  EXPECT_EQ(load(std::string(kMinimal) + "[poll]\njitter = 0.0\n").poll.jitter, 0.0);
}

TEST(Config, HealthLogAndShutdownValuesAreValidated) {
  const std::vector<ValidationCase> cases{
      {"[health]\nlisten = \"9580\"", "health.listen", "expected \"host:port\""},
      {"[health]\nlisten = \":9580\"", "health.listen", "host is missing"},
      {"[health]\nlisten = \"127.0.0.1:\"", "health.listen", "port must be a number"},
      {"[health]\nlisten = \"127.0.0.1:65536\"", "health.listen", "port must be a number from 0 to 65535"},
      {"[health]\nlisten = \"::1:9580\"", "health.listen", "IPv6 address needs brackets"},
      {"[health]\nlisten = \"localhost:9580\"", "health.listen", "must be an IP address"},
      {"[health]\nmax_request_bytes = 100", "health.max_request_bytes", "between 512 and 1048576, got 100"},
      {"[health]\nmax_request_bytes = -1", "health.max_request_bytes", "must not be negative"},
      {"[health]\nread_timeout = \"0s\"", "health.read_timeout", "greater than 0"},
      {"[health]\nmax_connections = 0", "health.max_connections", "between 1 and 10000, got 0"},
      {"[health]\nloop_check_interval = \"0s\"", "health.loop_check_interval", "greater than 0"},
      {"[health]\nstall_threshold = \"1s\"", "health.loop_check_interval",
       "shorter than health.stall_threshold (\"1s\"), got \"1s\""},
      {"[health]\nstats_interval = \"0ms\"", "health.stats_interval", "greater than 0"},
      {"[health]\nstatus_interval = \"0ms\"", "health.status_interval", "greater than 0"},
      {"[health]\nport_file = \"a\\nb\"", "health.port_file", "control characters"},
      {"[log]\nlevel = \"verbose\"", "log.level", "one of trace, debug, info, warn, error, got \"verbose\""},
      {"[log]\nlevel = \"INFO\"", "log.level", "one of trace"},
      {"[log]\nformat = \"logfmt\"", "log.format", "must be \"text\" or \"json\""},
      {"[shutdown]\nhand_back_timeout = \"0s\"", "shutdown.hand_back_timeout", "greater than 0"},
  };
  for (const auto& c : cases) expect_validation_error(c);
}

TEST(Config, HealthListenAcceptsIpv4Ipv6AndPortZero) {
  EXPECT_EQ(load(std::string(kMinimal) + "[health]\nlisten = \"[::1]:9580\"\n").health.listen, "[::1]:9580");
  EXPECT_EQ(load(std::string(kMinimal) + "[health]\nlisten = \"0.0.0.0:0\"\n").health.listen, "0.0.0.0:0");
}

TEST(Config, HealthLimitsAreRead) {
  const Config config = load(std::string(kMinimal) +
                             "[health]\nport_file = \"/run/smm-syncd/port\"\nmax_request_bytes = 4096\n"
                             "read_timeout = \"2s\"\nmax_connections = 4\nloop_check_interval = \"200ms\"\n"
                             "stall_threshold = \"3s\"\nstats_interval = \"10s\"\nstatus_interval = \"1s\"\n");
  EXPECT_EQ(config.health.port_file, "/run/smm-syncd/port");
  EXPECT_EQ(config.health.max_request_bytes, 4096u);
  EXPECT_EQ(config.health.read_timeout, 2s);
  EXPECT_EQ(config.health.max_connections, 4);
  EXPECT_EQ(config.health.loop_check_interval, 200ms);
  EXPECT_EQ(config.health.stall_threshold, 3s);
  EXPECT_EQ(config.health.stats_interval, 10s);
  EXPECT_EQ(config.health.status_interval, 1s);
}

TEST(Config, ZeroGraceIsAccepted) {
  EXPECT_EQ(load(std::string(kMinimal) + "[shutdown]\ngrace = \"0s\"\n").shutdown.grace, 0ms);
}

// -- Status map ---------------------------------------------------------------

TEST(Config, StatusMapSectionReplacesTheDefaultMap) {
  const Config config = load(std::string(kMinimal) +
                             "[poll]\nfinal_statuses = [\"done\"]\n"
                             "[status_map]\n\"  In_Progress \" = \"working\"\nCOMPLETED = \"done\"\n");
  const std::map<std::string, std::string> expected{{"in progress", "working"}, {"completed", "done"}};
  EXPECT_EQ(config.status_map, expected);
}

TEST(Config, StatusMapKeysAreNormalised) {
  const Config config = load(std::string(kMinimal) +
                             "[status_map]\n\"Partially__Completed\" = \"partial\"\n"
                             "\"In   Progress\" = \"processing\"\nsuccess = \"success\"\n"
                             "error = \"error\"\ncanceled = \"canceled\"\n");
  EXPECT_EQ(config.status_map.count("partially completed"), 1u);
  EXPECT_EQ(config.status_map.count("in progress"), 1u);
  EXPECT_EQ(config.status_map.size(), 5u);
}

TEST(Config, StatusMapProblemsAreRejected) {
  const std::string finals = "[poll]\nfinal_statuses = [\"success\"]\n";
  const std::vector<ValidationCase> cases{
      {finals + "[status_map]\nsuccess = \"success\"\n\"In Progress\" = \"a\"\nin_progress = \"b\"",
       "status_map.in_progress", "the same provider word as \"In Progress\" (both read as \"in progress\")"},
      {finals + "[status_map]\nsuccess = \"success\"\npending = \"\"", "status_map.pending",
       "local status must not be empty"},
      {finals + "[status_map]\nsuccess = \"success\"\npending = \"  \"", "status_map.pending",
       "local status must not be empty"},
      {finals + "[status_map]\nsuccess = \"success\"\n\" _ \" = \"x\"", "status_map.\" _ \"",
       "provider word is empty"},
      {"[status_map]", "status_map", "is empty"},
      {"[status_map]\nsuccess = \"success\"", "poll.final_statuses",
       "final status 'partial' is not a value of [status_map]"},
  };
  for (const auto& c : cases) expect_validation_error(c);
}

// -- Secrets ------------------------------------------------------------------

TEST(Config, SecretsComeFromTheFileWithoutEnvironment) {
  FakeEnvironment empty;
  const Config config = load(std::string(kMinimal) +
                                 "api_id = \"file-id\"\napi_key = \"file-key\"\nsecret_key = \"file-secret\"\n",
                             empty);
  EXPECT_EQ(config.provider.api_id.reveal(), "file-id");
  EXPECT_EQ(config.provider.api_key.reveal(), "file-key");
  EXPECT_EQ(config.provider.secret_key.reveal(), "file-secret");
  EXPECT_NO_THROW(require_secrets(config));
}

TEST(Config, EnvironmentOverridesFileSecrets) {
  const Config config = load(std::string(kMinimal) + "api_key = \"file-key\"\n");
  EXPECT_EQ(config.provider.api_id.reveal(), "example-api-id-canary");
  EXPECT_EQ(config.provider.api_key.reveal(), "example-api-key-canary");
  EXPECT_EQ(config.provider.secret_key.reveal(), "example-secret-key-canary");
}

TEST(Config, EmptyEnvironmentVariableKeepsFileSecret) {
  FakeEnvironment env;
  env.variables = {{"CENTRALSMM_API_KEY", ""}};
  const Config config = load(std::string(kMinimal) + "api_key = \"file-key\"\n", env);
  EXPECT_EQ(config.provider.api_key.reveal(), "file-key");
}

TEST(Config, CredentialsDirectoryOverridesEnvironment) {
  smm::test::TempDir dir;
  dir.write("centralsmm-api-key", "credential-key\n");
  dir.write("centralsmm-secret-key", "credential-secret\r\n");
  auto env = environment_with_secrets();
  env.variables["CREDENTIALS_DIRECTORY"] = dir.path();

  const Config config = load(kMinimal, env);
  EXPECT_EQ(config.provider.api_id.reveal(), "example-api-id-canary");  // no file: environment stays
  EXPECT_EQ(config.provider.api_key.reveal(), "credential-key");
  EXPECT_EQ(config.provider.secret_key.reveal(), "credential-secret");
}

TEST(Config, EmptyCredentialFileIsRejected) {
  smm::test::TempDir dir;
  dir.write("centralsmm-api-id", "\n");
  auto env = environment_with_secrets();
  env.variables["CREDENTIALS_DIRECTORY"] = dir.path();
  auto error = load_error(kMinimal, env);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->key(), "provider.api_id");
  EXPECT_NE(error->problem().find(dir.file("centralsmm-api-id") + " is empty"), std::string::npos);
}

TEST(Config, UnreadableCredentialFileIsRejected) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads files regardless of permissions";
  smm::test::TempDir dir;
  dir.write("centralsmm-api-key", "credential-key\n");
  ASSERT_EQ(chmod(dir.file("centralsmm-api-key").c_str(), 0), 0);
  auto env = environment_with_secrets();
  env.variables["CREDENTIALS_DIRECTORY"] = dir.path();
  auto error = load_error(kMinimal, env);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->key(), "provider.api_key");
  EXPECT_NE(error->problem().find("cannot read"), std::string::npos);
}

TEST(Config, CredentialThatIsADirectoryIsRejected) {
  smm::test::TempDir dir;
  std::filesystem::create_directory(dir.file("centralsmm-secret-key"));
  auto env = environment_with_secrets();
  env.variables["CREDENTIALS_DIRECTORY"] = dir.path();
  auto error = load_error(kMinimal, env);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->key(), "provider.secret_key");
  EXPECT_NE(error->problem().find("is a directory"), std::string::npos) << error->problem();
}

TEST(Config, MissingSecretsAreReportedByRequireSecrets) {
  FakeEnvironment env;
  env.variables = {{"CENTRALSMM_API_ID", "id"}};
  const Config config = load(kMinimal, env);  // loading alone does not need the secrets
  try {
    require_secrets(config);
    FAIL() << "no error for missing secrets";
  } catch (const ConfigError& error) {
    EXPECT_EQ(error.file(), "test.toml");
    EXPECT_EQ(error.key(), "provider.api_key");
    EXPECT_EQ(error.problem(),
              "missing: set it in the file, the environment variable CENTRALSMM_API_KEY or the systemd credential centralsmm-api-key");
  }
}

// -- Rendering ----------------------------------------------------------------

TEST(RenderEffective, NeverContainsSecretValues) {
  const Config config = load(std::string(kMinimal) +
                             "[redis]\nurl = \"redis://:example-redis-password-canary@127.0.0.1:6379/0\"\n"
                             "[postgres]\nconninfo = \"host=db password=example-pg-password-canary dbname=panel\"\n");
  const auto rendered = render_effective(config);
  for (const char* canary : {"example-api-id-canary", "example-api-key-canary", "example-secret-key-canary",
                             "example-redis-password-canary", "example-pg-password-canary"}) {
    EXPECT_EQ(rendered.find(canary), std::string::npos) << canary << " leaked:\n" << rendered;
  }
  EXPECT_NE(rendered.find("api_key = \"[redacted]\""), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("url = \"redis://:[redacted]@127.0.0.1:6379/0\""), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("conninfo = \"host=db password=[redacted] dbname=panel\""), std::string::npos)
      << rendered;
}

TEST(RenderEffective, EmptySecretsPrintEmpty) {
  FakeEnvironment empty;
  const auto rendered = render_effective(load(kMinimal, empty));
  EXPECT_NE(rendered.find("api_id = \"\"\n"), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("secret_key = \"\"\n"), std::string::npos) << rendered;
}

TEST(RenderEffective, DurationsUseTheirLargestExactUnit) {
  const auto rendered = render_effective(load(std::string(kMinimal) +
                                              "[poll]\nlease = \"90s\"\nretry_cap = \"300s\"\n"
                                              "give_up_after = \"720h\"\n[postgres]\nbatch_delay = \"1500ms\"\n"));
  EXPECT_NE(rendered.find("lease = \"90s\""), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("retry_cap = \"5m\""), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("give_up_after = \"30d\""), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("batch_delay = \"1500ms\""), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("request_timeout = \"15s\""), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("rate_limit = 5.0\n"), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("\"in progress\" = \"processing\""), std::string::npos) << rendered;
}

TEST(RenderEffective, ReadsBackAsTheSameConfig) {
  const Config config = load(std::string(kMinimal) +
                             "rate_limit = 0.25\nuser_agent = \"caf\u00e9 \\\"quoted\\\"\"\n"
                             "[postgres]\ntable = \"Orders \\\\ 2\"\n"
                             "[poll]\nfinal_statuses = [\"done\"]\n[status_map]\n\"in progress\" = \"done\"\n");
  const auto rendered = render_effective(config);
  const Config again = load(rendered);
  EXPECT_EQ(render_effective(again), rendered);
  EXPECT_EQ(again.provider.rate_limit, 0.25);
  EXPECT_EQ(again.provider.user_agent, "caf\u00e9 \"quoted\"");
  EXPECT_EQ(again.postgres.table, "Orders \\ 2");
}

TEST(RedactPassword, RemovesPasswordsFromUrlsAndConninfo) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"redis://:pw@127.0.0.1:6379/0", "redis://:[redacted]@127.0.0.1:6379/0"},
      {"redis://user:pw@host:6379/0", "redis://user:[redacted]@host:6379/0"},
      {"redis://:p@ss/w@host/0", "redis://:[redacted]@host/0"},
      {"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
      {"redis://user@host", "redis://user@host"},
      {"postgresql://panel:pw@db:5432/shop", "postgresql://panel:[redacted]@db:5432/shop"},
      {"postgres://db/shop?user=panel&password=pw&sslmode=require",
       "postgres://db/shop?user=panel&password=[redacted]&sslmode=require"},
      {"postgresql://db/shop?password=pw", "postgresql://db/shop?password=[redacted]"},
      {"host=db password=pw dbname=shop", "host=db password=[redacted] dbname=shop"},
      {"host=db password = 'p w\\' x' dbname=shop", "host=db password = [redacted] dbname=shop"},
      {"password=pw", "password=[redacted]"},
      {"host=db dbname=shop", "host=db dbname=shop"},
      {"", ""},
      {"host=db password='unterminated", "host=db [redacted]"},
  };
  for (const auto& [input, expected] : cases) {
    EXPECT_EQ(redact_password(input), expected) << input;
  }
}

// -- The shipped example ------------------------------------------------------

TEST(ExampleConfig, LoadsCleanlyWithSecretsFromEnvironment) {
  const Config config = load_file(example_config_path(), environment_with_secrets());
  EXPECT_NO_THROW(require_secrets(config));
  EXPECT_EQ(config.provider.api_key.reveal(), "example-api-key-canary");
}

TEST(ExampleConfig, ListsEveryKeyWithItsDefault) {
  const Config example = load_file(example_config_path(), environment_with_secrets());
  const Config defaults = load(kMinimal);
  EXPECT_EQ(render_effective(example), render_effective(defaults));

  // Every rendered key must be written in the example, not merely defaulted.
  const auto text = smm::test::read_file(example_config_path());
  const auto rendered = render_effective(defaults);
  std::size_t line_start = 0;
  while (line_start < rendered.size()) {
    auto line_end = rendered.find('\n', line_start);
    const auto line = rendered.substr(line_start, line_end - line_start);
    line_start = line_end + 1;
    if (line.empty() || line.front() == '[') continue;
    const auto key = line.substr(0, line.find(" = "));
    EXPECT_NE(text.find("\n" + key + " = "), std::string::npos) << key << " is not in the example config";
  }
}

}  // namespace
}  // namespace smm::config
