// Hostile input end to end: the smm-syncd binary against a real Redis, a
// real PostgreSQL and the fake provider, fed queue payloads that are not
// order ids, provider responses over the size cap, table and column names
// that need quoting, and canary secrets that must not show up in any output.

#include <cctype>
#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include "support/support.hpp"

using namespace std::chrono_literals;
using smm::test::Process;
using smm::test::SyncPg;
using smm::test::SyncRedis;
using smm::test::TempDir;

namespace {

constexpr auto kSyncTimeout = 90s;
constexpr const char* kFinalStatuses = "('success','partial','error','canceled')";

// The provider's three secrets. Every test here starts the fake provider
// with its own values, so a value that shows up in an output can only have
// come from the daemon under test.
struct Credentials {
  std::string api_id;
  std::string api_key;
  std::string secret_key;
};

const Credentials kCredentials{"example-api-id-hostile", "example-api-key-hostile",
                               "example-secret-key-hostile"};
const Credentials kCanaries{"example-api-id-canary-7f3", "example-api-key-canary-7f3",
                            "example-secret-key-canary-7f3"};

std::map<std::string, std::string> secret_environment(const Credentials& credentials) {
  return {{"CENTRALSMM_API_ID", credentials.api_id},
          {"CENTRALSMM_API_KEY", credentials.api_key},
          {"CENTRALSMM_SECRET_KEY", credentials.secret_key}};
}

// A PostgreSQL identifier in double quotes, with embedded quotes doubled.
std::string quote_identifier(const std::string& name) {
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

// A TOML basic string.
std::string toml_string(const std::string& text) {
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

std::string to_hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (char c : bytes) {
    auto byte = static_cast<unsigned char>(c);
    hex += kDigits[byte >> 4U];
    hex += kDigits[byte & 0xFU];
  }
  return hex;
}

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The fake provider as a child process with the given credentials. The
// support library's FakeProvider always uses its fixed example values.
class Provider {
 public:
  Provider(const TempDir& dir, const Credentials& credentials, std::vector<std::string> extra_args) {
    const std::string port_file = dir.file("fake-port");
    std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--port-file", port_file,
                                     "--api-id", credentials.api_id, "--api-key", credentials.api_key,
                                     "--secret-key", credentials.secret_key};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    process_ = std::make_unique<Process>(SMM_FAKE_PROVIDER_PATH, args, dir.file("fake-provider.log"));

    // The fake writes the port file by rename, so once it exists it is whole.
    bool ready = smm::test::eventually(
        [&] { return std::filesystem::exists(port_file) || !process_->running(); }, 10s);
    if (!ready || !std::filesystem::exists(port_file)) {
      throw std::runtime_error("fake provider did not start; its log: " +
                               smm::test::read_file(dir.file("fake-provider.log")));
    }
    std::string port = smm::test::read_file(port_file);
    while (!port.empty() && (port.back() == '\n' || port.back() == '\r')) port.pop_back();
    base_url_ = "http://127.0.0.1:" + port;
  }

  const std::string& base_url() const { return base_url_; }

  std::string get(const std::string& path) const {
    return smm::test::http_request(base_url_, "GET", path).body;
  }

  int stat(const char* name) const {
    rapidjson::Document doc;
    doc.Parse(get("/stats").c_str());
    return doc[name].GetInt();
  }

 private:
  std::unique_ptr<Process> process_;
  std::string base_url_;
};

// Names of the orders table and its columns, as the config gives them.
struct TableNames {
  std::string table;
  std::string id = "provider_order_id";
  std::string status = "status";
  std::string start_count = "start_count";
  std::string remains = "remains";
  std::string synced_at = "provider_synced_at";
};

class HostileInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (smm::test::redis_url().empty() || smm::test::pg_conninfo().empty()) {
      GTEST_SKIP() << "SMM_TEST_REDIS_URL and SMM_TEST_PG_CONNINFO are unset; run scripts/test";
    }
    prefix_ = smm::test::unique_name("hostile");
    names_.table = smm::test::unique_name("orders");
    redis_ = std::make_unique<SyncRedis>(smm::test::redis_url());
    pg_ = std::make_unique<SyncPg>(smm::test::pg_conninfo());
  }

  void TearDown() override {
    daemon_.reset();
    if (pg_ && table_created_) pg_->exec("DROP TABLE IF EXISTS " + quoted_table());
  }

  void create_table() {
    pg_->exec("CREATE TABLE " + quoted_table() + " (id bigserial PRIMARY KEY, " +
              quote_identifier(names_.id) + " bigint UNIQUE NOT NULL, " +
              quote_identifier(names_.status) + " text NOT NULL DEFAULT 'pending', " +
              quote_identifier(names_.start_count) + " bigint, " +
              quote_identifier(names_.remains) + " bigint, " +
              quote_identifier(names_.synced_at) + " timestamptz)");
    table_created_ = true;
  }

  std::string quoted_table() const { return quote_identifier(names_.table); }

  void start_provider(std::vector<std::string> args = {}, const Credentials& credentials = kCredentials) {
    provider_ = std::make_unique<Provider>(dir_, credentials, std::move(args));
  }

  // Writes the config file: short intervals and a generous rate, the table
  // and column names of names_, and `overrides` ("section.key" -> TOML value).
  void write_config(const std::map<std::string, std::string>& overrides = {}) {
    std::map<std::string, std::map<std::string, std::string>> sections;
    auto set = [&](const std::string& dotted, const std::string& value) {
      auto dot = dotted.find('.');
      sections[dotted.substr(0, dot)][dotted.substr(dot + 1)] = value;
    };
    set("provider.base_url", toml_string(provider_->base_url()));
    set("provider.rate_limit", "500.0");
    set("provider.burst", "50");
    set("provider.max_in_flight", "32");
    set("provider.request_timeout", "\"2s\"");
    set("redis.url", toml_string(smm::test::redis_url()));
    set("redis.key_prefix", toml_string(prefix_));
    set("redis.idle_poll", "\"200ms\"");
    set("postgres.conninfo", toml_string(smm::test::pg_conninfo()));
    set("postgres.table", toml_string(names_.table));
    set("postgres.id_column", toml_string(names_.id));
    set("postgres.status_column", toml_string(names_.status));
    set("postgres.start_count_column", toml_string(names_.start_count));
    set("postgres.remains_column", toml_string(names_.remains));
    set("postgres.synced_at_column", toml_string(names_.synced_at));
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

  void start_daemon(const Credentials& credentials = kCredentials,
                    const std::string& log_name = "daemon.log") {
    daemon_ = std::make_unique<Process>(
        SMM_DAEMON_PATH, std::vector<std::string>{"run", "--config", config_path()},
        dir_.file(log_name), secret_environment(credentials));
  }

  std::string config_path() const { return dir_.file("smm-syncd.toml"); }
  std::string key(const std::string& name) const { return "{" + prefix_ + "}:" + name; }

  std::vector<std::string> insert_orders(long long first, int count) {
    pg_->exec("INSERT INTO " + quoted_table() + " (" + quote_identifier(names_.id) +
              ") SELECT g FROM generate_series(" + std::to_string(first) + ", " +
              std::to_string(first + count - 1) + ") AS g");
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) ids.push_back(std::to_string(first + i));
    return ids;
  }

  void push(const std::vector<std::string>& payloads) {
    for (const auto& payload : payloads) redis_->command({"LPUSH", key("inbox"), payload});
  }

  long long dead_count() { return redis_->integer({"LLEN", key("dead")}); }

  long long count_where(const std::string& condition) {
    return std::stoll(pg_->query("SELECT count(*) FROM " + quoted_table() + " WHERE " + condition)[0][0]);
  }

  long long not_final() {
    return count_where(quote_identifier(names_.status) + " NOT IN " + kFinalStatuses);
  }

  bool wait_all_final(std::chrono::milliseconds timeout = kSyncTimeout) {
    return smm::test::eventually([&] { return not_final() == 0; }, timeout);
  }

  // Every row contains exactly the provider's final status and counts.
  void expect_rows_match_truth(const std::vector<std::string>& ids) {
    for (const auto& id : ids) {
      auto row = pg_->query("SELECT " + quote_identifier(names_.status) + ", " +
                            quote_identifier(names_.start_count) + ", " +
                            quote_identifier(names_.remains) + " FROM " + quoted_table() +
                            " WHERE " + quote_identifier(names_.id) + " = " + id);
      ASSERT_EQ(row.size(), 1u) << id;
      rapidjson::Document truth;
      truth.Parse(provider_->get("/truth?id=" + id).c_str());
      EXPECT_EQ(row[0][0], lower(truth["status"].GetString())) << "id " << id;
      EXPECT_EQ(row[0][1], std::to_string(truth["start_count"].GetInt64())) << "id " << id;
      EXPECT_EQ(row[0][2], std::to_string(truth["remains"].GetInt64())) << "id " << id;
    }
  }

  std::string read_log(const std::string& name = "daemon.log") const {
    return smm::test::read_file(dir_.file(name));
  }

  // Runs an smm-syncd subcommand on this test's config and returns its output.
  std::string run_cli(const std::vector<std::string>& args, const Credentials& credentials,
                      int* code = nullptr) {
    std::vector<std::string> argv = args;
    argv.insert(argv.begin() + 1, {"--config", config_path()});
    std::string output;
    int status = smm::test::run_command(SMM_DAEMON_PATH, argv, &output, secret_environment(credentials));
    if (code != nullptr) *code = status;
    return output;
  }

  TempDir dir_;
  std::string prefix_;
  TableNames names_;
  bool table_created_ = false;
  std::unique_ptr<SyncRedis> redis_;
  std::unique_ptr<SyncPg> pg_;
  std::unique_ptr<Provider> provider_;
  std::unique_ptr<Process> daemon_;
};

// Payloads that are not order ids, each with the name the failure shows.
std::vector<std::pair<std::string, std::string>> hostile_payloads() {
  return {
      {"empty", ""},
      {"spaces only", "     "},
      {"tabs and newlines only", "\t\r\n"},
      {"negative", "-5"},
      {"plus sign", "+5"},
      {"21 digits", "123456789012345678901"},
      {"40 digits", std::string(40, '9')},
      {"decimal", "12.0"},
      {"digits with inner space", "12 34"},
      {"arabic-indic digits", "\xd9\xa1\xd9\xa2\xd9\xa3"},
      {"non-ASCII text", "pesanan-\xc3\xb1-\xf0\x9f\x98\x80"},
      {"binary with NUL and 0xFF", std::string("12\0\xff\xfe" "34\0", 8)},
      {"lone 0xFF", "\xff"},
      {"1 MB of digits", std::string(1 << 20, '7')},
      {"1 MB of text", std::string(1 << 20, 'x')},
      {"JSON object", "{\"id\":1}"},
      {"JSON object with a valid id", "{\"id\": \"6100001\"}"},
      {"JSON array", "[6100001]"},
      {"JSON null", "null"},
  };
}

// Decodes a dead entry's payload: hex-encoded when it was not UTF-8.
std::string stored_payload(const rapidjson::Value& entry) {
  std::string payload(entry["payload"].GetString(), entry["payload"].GetStringLength());
  if (!entry.HasMember("payload_encoding")) return payload;
  std::string bytes;
  for (std::size_t i = 0; i + 1 < payload.size(); i += 2) {
    bytes += static_cast<char>(std::stoi(payload.substr(i, 2), nullptr, 16));
  }
  return bytes;
}

}  // namespace

TEST_F(HostileInputTest, InvalidPayloadsDeadLetteredSyncGoesOn) {
  create_table();
  start_provider();
  write_config();
  const auto hostile = hostile_payloads();
  for (const auto& [name, payload] : hostile) push({payload});
  start_daemon();

  ASSERT_TRUE(smm::test::eventually(
      [&] { return dead_count() == static_cast<long long>(hostile.size()); }, 30s))
      << "dead entries: " << dead_count() << " of " << hostile.size() << "\n" << read_log();

  // Valid ids pushed after the hostile ones are synced as usual.
  auto ids = insert_orders(6100001, 50);
  push(ids);
  ASSERT_TRUE(wait_all_final()) << not_final() << " rows not final\n" << read_log();
  expect_rows_match_truth(ids);
  ASSERT_TRUE(daemon_->running()) << read_log();

  // Each payload has its own dead entry: strict JSON (valid UTF-8), a
  // reason, the original size, and a stored payload that starts the original.
  std::vector<rapidjson::Document> entries;
  for (const auto& text : redis_->command({"LRANGE", key("dead"), "0", "-1"})) {
    EXPECT_LT(text.size(), 8u * 1024u) << "a dead entry stores a whole large payload";
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(text.c_str(), text.size());
    ASSERT_FALSE(doc.HasParseError()) << "not valid JSON: " << to_hex(text.substr(0, 200));
    ASSERT_TRUE(doc.IsObject()) << text.substr(0, 200);
    ASSERT_TRUE(doc.HasMember("reason")) << text.substr(0, 200);
    ASSERT_TRUE(doc["reason"].IsString()) << text.substr(0, 200);
    EXPECT_GT(doc["reason"].GetStringLength(), 0u) << text.substr(0, 200);
    ASSERT_TRUE(doc.HasMember("payload")) << text.substr(0, 200);
    ASSERT_TRUE(doc["payload"].IsString()) << text.substr(0, 200);
    ASSERT_TRUE(doc.HasMember("payload_bytes")) << text.substr(0, 200);
    ASSERT_TRUE(doc["payload_bytes"].IsInt64()) << text.substr(0, 200);
    entries.push_back(std::move(doc));
  }
  std::set<std::size_t> matched;
  for (const auto& [name, payload] : hostile) {
    bool found = false;
    for (std::size_t i = 0; i < entries.size() && !found; ++i) {
      if (matched.count(i) != 0) continue;
      if (entries[i]["payload_bytes"].GetInt64() != static_cast<std::int64_t>(payload.size())) continue;
      if (payload.rfind(stored_payload(entries[i]), 0) == 0) {
        matched.insert(i);
        found = true;
      }
    }
    EXPECT_TRUE(found) << "no dead entry for the " << name << " payload";
  }
}

TEST_F(HostileInputTest, OversizedResponseNotWritten) {
  create_table();
  start_provider();
  // A success response of the fake is about 100 bytes, so every response is
  // over the cap. Debug logging shows each poll failure with its reason.
  write_config({{"provider.max_response_bytes", "40"}, {"log.level", "\"debug\""}});
  auto ids = insert_orders(6200001, 10);
  push(ids);
  start_daemon();

  ASSERT_TRUE(smm::test::eventually([&] { return provider_->stat("status_requests") >= 30; }, 30s))
      << read_log();
  EXPECT_EQ(count_where(quote_identifier(names_.synced_at) + " IS NOT NULL"), 0);
  EXPECT_EQ(count_where(quote_identifier(names_.status) + " <> 'pending'"), 0);
  EXPECT_EQ(dead_count(), 0) << "an oversized answer is a transport fault, not the order's";
  EXPECT_NE(read_log().find("provider response exceeded the size cap"), std::string::npos) << read_log();
  EXPECT_TRUE(daemon_->running()) << read_log();
}

TEST_F(HostileInputTest, ChaosHugeBodiesWriteOnlyTruth) {
  create_table();
  // Chaos gives each response a random quirk. One of them pads the JSON with
  // 2 MB of spaces, which is over the default 64 KiB cap.
  start_provider({"--chaos", "--seed", "7", "--retry-after", "1"});
  write_config({{"log.level", "\"debug\""}});
  auto ids = insert_orders(6300001, 60);
  push(ids);
  start_daemon();

  ASSERT_TRUE(wait_all_final(120s)) << not_final() << " rows not final\n" << read_log();
  expect_rows_match_truth(ids);
  EXPECT_EQ(dead_count(), 0);
  EXPECT_GT(provider_->stat("chaos"), 0);
  EXPECT_NE(read_log().find("provider response exceeded the size cap"), std::string::npos)
      << "no answer was cut off; the run saw no huge body";
}

TEST_F(HostileInputTest, OddTableAndColumnNamesWork) {
  // Quotes, spaces, capitals, a semicolon and a comment marker: each name
  // only works when the daemon quotes it as an identifier.
  names_.table = "Order \"Rows\"; --" + std::to_string(getpid());
  names_.id = "Provider Order Id";
  names_.status = "Status";
  names_.start_count = "start count";
  names_.remains = "re\"mains";
  names_.synced_at = "Synced.At";
  create_table();
  start_provider();
  write_config();
  auto ids = insert_orders(6400001, 40);
  push(ids);
  start_daemon();

  ASSERT_TRUE(wait_all_final()) << not_final() << " rows not final\n" << read_log();
  expect_rows_match_truth(ids);
  EXPECT_EQ(count_where(quote_identifier(names_.synced_at) + " IS NULL"), 0);
}

TEST_F(HostileInputTest, SecretsAppearInNoOutput) {
  create_table();
  start_provider({}, kCanaries);
  write_config({{"log.level", "\"trace\""},
                {"health.port_file", toml_string(dir_.file("health.port"))},
                {"poll.max_attempts", "2"},
                {"poll.rejection_base", "\"20ms\""},
                {"poll.rejection_cap", "\"50ms\""}});
  auto ids = insert_orders(6500001, 100);
  push(ids);
  push({"not-an-id"});
  push({"4040001"});  // the fake returns "not found" for 404xxxx ids
  start_daemon(kCanaries);

  ASSERT_TRUE(wait_all_final()) << not_final() << " rows not final\n" << read_log();
  ASSERT_TRUE(smm::test::eventually([&] { return dead_count() == 2; }, 30s)) << read_log();

  std::map<std::string, std::string> outputs;
  std::string health_port = smm::test::read_file(dir_.file("health.port"));
  while (!health_port.empty() && std::isspace(static_cast<unsigned char>(health_port.back()))) {
    health_port.pop_back();
  }
  const std::string health_url = "http://127.0.0.1:" + health_port;
  for (const char* path : {"/metrics", "/readyz", "/healthz"}) {
    outputs[path] = smm::test::http_request(health_url, "GET", path).body;
  }
  EXPECT_FALSE(outputs["/metrics"].empty());
  daemon_->signal(SIGTERM);
  ASSERT_TRUE(daemon_->wait(10s).has_value());

  outputs["daemon log"] = read_log();
  outputs["check-config"] = run_cli({"check-config"}, kCanaries);
  outputs["stats"] = run_cli({"stats"}, kCanaries);
  outputs["dead-letters"] = run_cli({"dead-letters"}, kCanaries);
  EXPECT_NE(outputs["check-config"].find("[redacted]"), std::string::npos) << outputs["check-config"];
  EXPECT_NE(outputs["dead-letters"].find("not-an-id"), std::string::npos) << outputs["dead-letters"];

  // A wrong key: the daemon logs the provider's refusal.
  Credentials wrong = kCanaries;
  wrong.api_key = "example-api-key-canary-wrong-7f3";
  push({ids.front()});
  start_daemon(wrong, "daemon-wrong-key.log");
  ASSERT_TRUE(smm::test::eventually(
      [&] { return read_log("daemon-wrong-key.log").find("provider_rejected_account") != std::string::npos; },
      30s)) << read_log("daemon-wrong-key.log");
  daemon_->signal(SIGTERM);
  daemon_->wait(10s);
  outputs["daemon log, wrong key"] = read_log("daemon-wrong-key.log");

  // Errors: Redis unreachable, and config errors with the secrets in the file.
  write_config({{"redis.url", "\"redis://127.0.0.1:1/0\""}, {"redis.command_timeout", "\"500ms\""}});
  int code = 0;
  outputs["stats, Redis unreachable"] = run_cli({"stats"}, kCanaries, &code);
  EXPECT_NE(code, 0) << outputs["stats, Redis unreachable"];
  write_config({{"provider.api_id", toml_string(kCanaries.api_id)},
                {"provider.api_key", toml_string(kCanaries.api_key)},
                {"provider.secret_key", "[" + toml_string(kCanaries.secret_key) + "]"}});
  outputs["check-config, secret of wrong type"] = run_cli({"check-config"}, {}, &code);
  EXPECT_EQ(code, 2) << outputs["check-config, secret of wrong type"];
  write_config({{"provider.api_id", toml_string(kCanaries.api_id)},
                {"provider.api_key", toml_string(kCanaries.api_key)},
                {"provider.secret_key", toml_string(kCanaries.secret_key)},
                {"provider.burst", "\"five\""}});
  outputs["check-config, bad key next to secrets"] = run_cli({"check-config"}, {}, &code);
  EXPECT_EQ(code, 2) << outputs["check-config, bad key next to secrets"];

  for (const auto& [source, text] : outputs) {
    for (const std::string& secret : {kCanaries.api_id, kCanaries.api_key, kCanaries.secret_key,
                                      wrong.api_key}) {
      EXPECT_EQ(text.find(secret), std::string::npos) << secret << " appears in " << source;
    }
  }
}
