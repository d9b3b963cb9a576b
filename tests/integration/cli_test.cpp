// The smm-syncd command line: exit codes and messages for good and bad
// usage, and the queue subcommands against a real Redis.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/support.hpp"

using smm::test::TempDir;

namespace {

struct Result {
  int code = -1;
  std::string output;
};

Result smm_syncd(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env = {}) {
  Result result;
  result.code = smm::test::run_command(SMM_DAEMON_PATH, args, &result.output, env);
  return result;
}

const std::map<std::string, std::string> kSecrets = {
    {"CENTRALSMM_API_ID", "example-api-id-canary"},
    {"CENTRALSMM_API_KEY", "example-api-key-canary"},
    {"CENTRALSMM_SECRET_KEY", "example-secret-key-canary"}};

std::string minimal_config(const std::string& extra = "") {
  return "[provider]\nbase_url = \"http://127.0.0.1:9\"\n" + extra;
}

}  // namespace

TEST(Cli, VersionExitsZero) {
  Result result = smm_syncd({"--version"});
  EXPECT_EQ(result.code, 0);
  EXPECT_NE(result.output.find("smm-syncd "), std::string::npos) << result.output;
}

TEST(Cli, HelpListsSubcommands) {
  Result result = smm_syncd({"--help"});
  EXPECT_EQ(result.code, 0);
  for (const char* name : {"run", "check-config", "enqueue", "stats", "dead-letters", "migrate"}) {
    EXPECT_NE(result.output.find(name), std::string::npos) << name;
  }
}

TEST(Cli, UnknownSubcommandIsUsageError) {
  Result result = smm_syncd({"frobnicate"});
  EXPECT_EQ(result.code, 2) << result.output;
}

TEST(Cli, MissingConfigFileNamesFile) {
  Result result = smm_syncd({"check-config", "--config", "/nonexistent/smm-syncd.toml"});
  EXPECT_EQ(result.code, 2);
  EXPECT_NE(result.output.find("/nonexistent/smm-syncd.toml"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("not found"), std::string::npos) << result.output;
}

TEST(Cli, UnknownKeyNamesFileAndKey) {
  TempDir dir;
  dir.write("c.toml", minimal_config("bogus_key = 1\n"));
  Result result = smm_syncd({"check-config", "--config", dir.file("c.toml")});
  EXPECT_EQ(result.code, 2);
  EXPECT_NE(result.output.find(dir.file("c.toml")), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("provider.bogus_key"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("unknown key"), std::string::npos) << result.output;
}

TEST(Cli, BadDurationNamesKey) {
  TempDir dir;
  dir.write("c.toml", minimal_config("request_timeout = \"15 parsecs\"\n"));
  Result result = smm_syncd({"check-config", "--config", dir.file("c.toml")});
  EXPECT_EQ(result.code, 2);
  EXPECT_NE(result.output.find("provider.request_timeout"), std::string::npos) << result.output;
}

TEST(Cli, WrongTypeNamesKey) {
  TempDir dir;
  dir.write("c.toml", minimal_config("burst = \"five\"\n"));
  Result result = smm_syncd({"check-config", "--config", dir.file("c.toml")});
  EXPECT_EQ(result.code, 2);
  EXPECT_NE(result.output.find("provider.burst"), std::string::npos) << result.output;
}

TEST(Cli, RunWithoutSecretsIsConfigError) {
  TempDir dir;
  dir.write("c.toml", minimal_config());
  Result result = smm_syncd({"run", "--config", dir.file("c.toml")});
  EXPECT_EQ(result.code, 2);
  EXPECT_NE(result.output.find("provider.api_id"), std::string::npos) << result.output;
}

TEST(Cli, CheckConfigRedactsSecrets) {
  TempDir dir;
  dir.write("c.toml", minimal_config());
  Result result = smm_syncd({"check-config", "--config", dir.file("c.toml")}, kSecrets);
  EXPECT_EQ(result.code, 0) << result.output;
  EXPECT_NE(result.output.find("[redacted]"), std::string::npos) << result.output;
  for (const auto& [name, value] : kSecrets) {
    EXPECT_EQ(result.output.find(value), std::string::npos) << name;
  }
  EXPECT_NE(result.output.find("rate_limit = 5"), std::string::npos) << result.output;
}

TEST(Cli, CheckConfigWithoutSecretsFails) {
  TempDir dir;
  dir.write("c.toml", minimal_config());
  Result result = smm_syncd({"check-config", "--config", dir.file("c.toml")});
  EXPECT_EQ(result.code, 2) << result.output;
  EXPECT_NE(result.output.find("provider.api_id"), std::string::npos) << result.output;
  EXPECT_NE(result.output.find("CENTRALSMM_API_ID"), std::string::npos) << result.output;
}

TEST(Cli, InvalidEnqueueIdIsUsageError) {
  TempDir dir;
  dir.write("c.toml", minimal_config());
  Result result = smm_syncd({"enqueue", "--config", dir.file("c.toml"), "12a"});
  EXPECT_EQ(result.code, 2);
  EXPECT_NE(result.output.find("12a"), std::string::npos) << result.output;
}

TEST(Cli, UnreachableRedisIsRuntimeError) {
  TempDir dir;
  dir.write("c.toml", minimal_config() +
                          "[redis]\nurl = \"redis://127.0.0.1:1/0\"\ncommand_timeout = \"200ms\"\n"
                          "reconnect_max = \"200ms\"\n");
  Result result = smm_syncd({"stats", "--config", dir.file("c.toml")});
  EXPECT_EQ(result.code, 1) << result.output;
  EXPECT_NE(result.output.find("Redis"), std::string::npos) << result.output;
}

TEST(Cli, EnqueueStatsAndDeadLetters) {
  if (smm::test::redis_url().empty()) GTEST_SKIP() << "SMM_TEST_REDIS_URL is unset; run scripts/test";
  TempDir dir;
  const std::string prefix = smm::test::unique_name("cli");
  dir.write("c.toml", minimal_config() + "[redis]\nurl = \"" + smm::test::redis_url() +
                          "\"\nkey_prefix = \"" + prefix + "\"\n");
  const std::string config = dir.file("c.toml");

  Result enqueued = smm_syncd({"enqueue", "--config", config, "101", "102", " 103 "});
  ASSERT_EQ(enqueued.code, 0) << enqueued.output;

  Result stats = smm_syncd({"stats", "--config", config});
  ASSERT_EQ(stats.code, 0) << stats.output;
  EXPECT_NE(stats.output.find("scheduled        3"), std::string::npos) << stats.output;

  smm::test::SyncRedis redis(smm::test::redis_url());
  redis.command({"LPUSH", "{" + prefix + "}:dead",
                 R"({"payload":"104","reason":"Pesanan tidak ditemukan","at":1})"});
  Result listed = smm_syncd({"dead-letters", "--config", config});
  ASSERT_EQ(listed.code, 0) << listed.output;
  EXPECT_NE(listed.output.find("Pesanan tidak ditemukan"), std::string::npos) << listed.output;

  Result requeued = smm_syncd({"dead-letters", "--config", config, "--requeue", "104"});
  ASSERT_EQ(requeued.code, 0) << requeued.output;
  EXPECT_NE(requeued.output.find("requeued 1"), std::string::npos) << requeued.output;
  EXPECT_EQ(redis.integer({"LLEN", "{" + prefix + "}:dead"}), 0);
  EXPECT_EQ(redis.integer({"ZCARD", "{" + prefix + "}:schedule"}), 4);
}
