// TLS to the provider: the fake provider serves HTTPS with a certificate for
// 127.0.0.1 signed by a CA made at test time. The daemon verifies the
// provider, so it refuses that certificate (no request reaches the provider,
// nothing is written) unless provider.ca_file names the CA.

#include <filesystem>
#include <map>
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

constexpr auto kTimeout = 60s;

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (smm::test::redis_url().empty() || smm::test::pg_conninfo().empty()) {
      GTEST_SKIP() << "SMM_TEST_REDIS_URL and SMM_TEST_PG_CONNINFO are unset; run scripts/test";
    }
    prefix_ = smm::test::unique_name("tls");
    table_ = smm::test::unique_name("tls_orders");
    redis_ = std::make_unique<SyncRedis>(smm::test::redis_url());
    pg_ = std::make_unique<SyncPg>(smm::test::pg_conninfo());
    pg_->exec("CREATE TABLE " + table_ +
              " (id bigserial PRIMARY KEY, provider_order_id bigint UNIQUE NOT NULL,"
              " status text NOT NULL DEFAULT 'pending', start_count bigint, remains bigint,"
              " provider_synced_at timestamptz)");
    make_ca("ca");
    make_server_certificate("ca");
    start_https_provider();
  }

  void TearDown() override {
    daemon_.reset();
    provider_.reset();
    if (pg_) pg_->exec("DROP TABLE IF EXISTS " + table_);
  }

  void openssl(const std::vector<std::string>& args) {
    std::string output;
    int code = smm::test::run_command("openssl", args, &output);
    ASSERT_EQ(code, 0) << "openssl " << args.front() << " failed: " << output;
  }

  // A self-signed CA: <name>.pem and <name>.key in the test folder.
  void make_ca(const std::string& name) {
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
             dir_.file(name + ".key"), "-out", dir_.file(name + ".pem"), "-days", "2", "-subj",
             "/CN=smm-syncd test CA " + name, "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
             "keyUsage=critical,keyCertSign,cRLSign"});
  }

  // server.pem and server.key: a certificate for the IP address 127.0.0.1
  // (an IP SAN, which is what curl matches an IP URL against).
  void make_server_certificate(const std::string& ca) {
    dir_.write("server.ext",
               "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
               "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n");
    openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
             dir_.file("server.key"), "-out", dir_.file("server.csr"), "-subj", "/CN=127.0.0.1"});
    openssl({"x509", "-req", "-in", dir_.file("server.csr"), "-CA", dir_.file(ca + ".pem"), "-CAkey",
             dir_.file(ca + ".key"), "-CAcreateserial", "-out", dir_.file("server.pem"), "-days", "2",
             "-extfile", dir_.file("server.ext")});
  }

  void start_https_provider() {
    std::string port_file = dir_.file("fake-port");
    provider_ = std::make_unique<Process>(
        SMM_FAKE_PROVIDER_PATH,
        std::vector<std::string>{"--listen", "127.0.0.1:0", "--port-file", port_file, "--api-id",
                                 FakeProvider::kApiId, "--api-key", FakeProvider::kApiKey, "--secret-key",
                                 FakeProvider::kSecretKey, "--tls-cert", dir_.file("server.pem"), "--tls-key",
                                 dir_.file("server.key")},
        dir_.file("fake-provider.log"));
    ASSERT_TRUE(smm::test::eventually([&] { return std::filesystem::exists(port_file) || !provider_->running(); },
                                      10s));
    ASSERT_TRUE(std::filesystem::exists(port_file)) << smm::test::read_file(dir_.file("fake-provider.log"));
    std::string port = smm::test::read_file(port_file);
    while (!port.empty() && (port.back() == '\n' || port.back() == '\r')) port.pop_back();
    base_url_ = "https://127.0.0.1:" + port;
  }

  // GET on the fake over HTTPS, trusting only the test CA; returns the body.
  std::string fake_get(const std::string& path) {
    std::string output;
    int code = smm::test::run_command("curl", {"-sS", "--max-time", "10", "--cacert", dir_.file("ca.pem"),
                                               base_url_ + path},
                                      &output);
    EXPECT_EQ(code, 0) << "curl " << path << ": " << output;
    return output;
  }

  long long fake_stat(const char* name) {
    rapidjson::Document doc;
    doc.Parse(fake_get("/stats").c_str());
    if (doc.HasParseError() || !doc.HasMember(name)) return -1;
    return doc[name].GetInt64();
  }

  void write_config(const std::string& ca_file) {
    std::string text = "[provider]\nbase_url = \"" + base_url_ +
                       "\"\nrate_limit = 200.0\nburst = 20\nrequest_timeout = \"2s\"\n";
    if (!ca_file.empty()) text += "ca_file = \"" + ca_file + "\"\n";
    text += "[redis]\nurl = \"" + smm::test::redis_url() + "\"\nkey_prefix = \"" + prefix_ +
            "\"\nidle_poll = \"200ms\"\n";
    text += "[postgres]\nconninfo = \"" + smm::test::pg_conninfo() + "\"\ntable = \"" + table_ + "\"\n";
    text += "[poll]\npending_interval = \"300ms\"\nprocessing_interval = \"300ms\"\nlease = \"5s\"\n"
            "retry_base = \"50ms\"\nretry_cap = \"500ms\"\n";
    text += "[health]\nlisten = \"127.0.0.1:0\"\n[shutdown]\ngrace = \"3s\"\n";
    // Info level, as operators run it: the refusal must still be visible.
    text += "[log]\nlevel = \"info\"\n";
    dir_.write("smm-syncd.toml", text);
  }

  void start_daemon() {
    daemon_ = std::make_unique<Process>(
        SMM_DAEMON_PATH, std::vector<std::string>{"run", "--config", dir_.file("smm-syncd.toml")},
        dir_.file("daemon.log"),
        std::map<std::string, std::string>{{"CENTRALSMM_API_ID", FakeProvider::kApiId},
                                           {"CENTRALSMM_API_KEY", FakeProvider::kApiKey},
                                           {"CENTRALSMM_SECRET_KEY", FakeProvider::kSecretKey}});
  }

  std::vector<std::string> add_orders(long long first, int count) {
    pg_->exec("INSERT INTO " + table_ + " (provider_order_id) SELECT g FROM generate_series(" +
              std::to_string(first) + ", " + std::to_string(first + count - 1) + ") AS g");
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) {
      ids.push_back(std::to_string(first + i));
      redis_->command({"LPUSH", "{" + prefix_ + "}:inbox", ids.back()});
    }
    return ids;
  }

  long long count_where(const std::string& condition) {
    return std::stoll(pg_->query("SELECT count(*) FROM " + table_ + " WHERE " + condition)[0][0]);
  }

  std::string daemon_log() const { return smm::test::read_file(dir_.file("daemon.log")); }

  // Runs the daemon until its log shows a certificate verification failure,
  // then asserts that nothing reached the provider and nothing was written.
  void expect_refused() {
    auto ids = add_orders(31000001, 20);
    start_daemon();
    // The outage is logged once at warn level with curl's own reason.
    ASSERT_TRUE(smm::test::eventually(
        [&] { return daemon_log().find("provider_failing") != std::string::npos; }, kTimeout))
        << daemon_log();
    std::string log = daemon_log();
    EXPECT_NE(log.find("outcome=transport_error"), std::string::npos) << log;
    EXPECT_NE(lower(log).find("certificate"), std::string::npos) << log;
    EXPECT_TRUE(daemon_->running()) << log;

    EXPECT_EQ(fake_stat("status_requests"), 0) << "a request got past the TLS handshake";
    EXPECT_EQ(count_where("provider_synced_at IS NOT NULL OR status <> 'pending'"), 0);
    EXPECT_EQ(redis_->integer({"ZCARD", "{" + prefix_ + "}:schedule"}), static_cast<long long>(ids.size()))
        << "refused ids must stay scheduled";
  }

  TempDir dir_;
  std::string prefix_;
  std::string table_;
  std::string base_url_;
  std::unique_ptr<SyncRedis> redis_;
  std::unique_ptr<SyncPg> pg_;
  std::unique_ptr<Process> provider_;
  std::unique_ptr<Process> daemon_;
};

}  // namespace

TEST_F(TlsTest, SelfSignedProviderRefusedWithoutCaFile) {
  write_config("");
  expect_refused();
}

TEST_F(TlsTest, SelfSignedProviderRefusedWithOtherCa) {
  make_ca("other");
  write_config(dir_.file("other.pem"));
  expect_refused();
}

TEST_F(TlsTest, SyncsWhenCaFileNamesTheCa) {
  write_config(dir_.file("ca.pem"));
  auto ids = add_orders(32000001, 30);
  start_daemon();

  ASSERT_TRUE(smm::test::eventually(
      [&] { return count_where("status NOT IN ('success','partial','error','canceled')") == 0; }, kTimeout))
      << daemon_log();
  for (const auto& id : ids) {
    rapidjson::Document truth;
    truth.Parse(fake_get("/truth?id=" + id).c_str());
    ASSERT_FALSE(truth.HasParseError()) << id;
    auto row = pg_->query("SELECT status, start_count, remains FROM " + table_ + " WHERE provider_order_id = " + id);
    ASSERT_EQ(row.size(), 1u) << id;
    EXPECT_EQ(row[0][0], lower(truth["status"].GetString())) << id;
    EXPECT_EQ(row[0][1], std::to_string(truth["start_count"].GetInt64())) << id;
    EXPECT_EQ(row[0][2], std::to_string(truth["remains"].GetInt64())) << id;
  }
  EXPECT_EQ(daemon_log().find("provider_failing"), std::string::npos);
  EXPECT_GE(fake_stat("status_requests"), static_cast<long long>(ids.size()));
}
