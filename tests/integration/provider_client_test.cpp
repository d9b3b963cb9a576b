// The provider client against the fake provider process on loopback.

#include "provider/client.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "common/error.hpp"
#include "support/support.hpp"

namespace smm::provider {
namespace {

using namespace std::chrono_literals;
using test::FakeProvider;

// Upper bound on any single wait for callbacks in these tests.
constexpr auto kRunLimit = 20s;

config::ProviderConfig client_config(const std::string& base_url) {
  config::ProviderConfig config;
  config.base_url = base_url;
  config.api_id = config::Secret(FakeProvider::kApiId);
  config.api_key = config::Secret(FakeProvider::kApiKey);
  config.secret_key = config::Secret(FakeProvider::kSecretKey);
  config.connect_timeout = 2s;
  config.request_timeout = 5s;
  config.max_in_flight = 4;
  return config;
}

// Collects callback results and stops the io_context once `expected` arrived.
class Collector {
 public:
  Collector(boost::asio::io_context& io, std::size_t expected) : io_(io), expected_(expected) {}

  Client::Callback callback() {
    return [this](FetchResult result) {
      results_.push_back(std::move(result));
      if (results_.size() >= expected_) io_.stop();
    };
  }

  // Runs the io_context until every expected result arrived or kRunLimit.
  void run() {
    io_.restart();
    if (results_.size() < expected_) io_.run_for(kRunLimit);
  }

  const std::vector<FetchResult>& results() const { return results_; }

 private:
  boost::asio::io_context& io_;
  std::size_t expected_;
  std::vector<FetchResult> results_;
};

FetchResult fetch_one(boost::asio::io_context& io, Client& client, const std::string& id) {
  Collector collector(io, 1);
  client.fetch_status(id, collector.callback());
  collector.run();
  if (collector.results().empty()) {
    ADD_FAILURE() << "no callback for id " << id << " within the run limit";
    return {};
  }
  return collector.results().front();
}

std::string describe(const FetchResult& result) {
  std::string text = "transport_error=" + result.transport_error.message() +
                     " http_status=" + std::to_string(result.http_status);
  if (const auto* report = std::get_if<StatusReport>(&result.answer)) {
    text += " report=" + report->status_word;
  } else if (const auto* rejection = std::get_if<Rejection>(&result.answer)) {
    text += " rejection=" + rejection->message;
  } else {
    const auto& bad = std::get<MalformedAnswer>(result.answer);
    text += " malformed=" + bad.reason + " snippet=" + bad.snippet;
  }
  return text;
}

// Reads an unsigned counter from the fake's GET /stats.
std::uint64_t fake_stat(const FakeProvider& fake, const char* name) {
  rapidjson::Document stats;
  stats.Parse(fake.get("/stats").c_str());
  if (!stats.IsObject() || !stats.HasMember(name) || !stats[name].IsUint64()) {
    ADD_FAILURE() << "fake /stats has no counter " << name;
    return 0;
  }
  return stats[name].GetUint64();
}

// The socket inodes of this process's established TCP connections to
// `base_url`'s port, read from /proc. The test's own helper requests close
// their sockets, so what stays open belongs to the client's connection cache.
std::set<std::string> open_connections_to(const std::string& base_url) {
  const unsigned port = static_cast<unsigned>(std::stoul(base_url.substr(base_url.rfind(':') + 1)));
  std::set<std::string> own_sockets;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    auto target = std::filesystem::read_symlink(entry.path(), error);
    if (!error) own_sockets.insert(target.string());
  }

  // Columns: sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode.
  std::set<std::string> inodes;
  std::istringstream table(test::read_file("/proc/self/net/tcp"));
  std::string line;
  std::getline(table, line);  // header
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >>
        inode;
    const unsigned remote_port = static_cast<unsigned>(std::stoul(remote.substr(remote.find(':') + 1), nullptr, 16));
    const std::string socket_name = "socket:[" + inode + "]";
    if (state == "01" && remote_port == port && own_sockets.count(socket_name) != 0) {
      inodes.insert(socket_name);
    }
  }
  return inodes;
}

// A loopback TCP socket bound to a free port without listening, so connects
// to it are refused and no other process can take the port meanwhile.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    auto* generic = reinterpret_cast<sockaddr*>(&address);
    if (fd_ < 0 || ::bind(fd_, generic, length) != 0 || ::getsockname(fd_, generic, &length) != 0) {
      throw std::runtime_error("could not bind a loopback socket");
    }
    port_ = ntohs(address.sin_port);
  }
  ~RefusingPort() { ::close(fd_); }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

TEST(ProviderClient, ParsesPendingAnswerEndToEnd) {
  test::TempDir dir;
  FakeProvider fake(dir);
  boost::asio::io_context io;
  Client client(io, client_config(fake.base_url() + "/"));

  FetchResult result = fetch_one(io, client, "1001");

  ASSERT_FALSE(result.transport_error) << describe(result);
  EXPECT_EQ(result.http_status, 200);
  EXPECT_FALSE(result.retry_after.has_value());
  EXPECT_GT(result.latency.count(), 0);
  const auto* report = std::get_if<StatusReport>(&result.answer);
  ASSERT_NE(report, nullptr) << describe(result);
  EXPECT_EQ(report->status_word, "pending");
  EXPECT_TRUE(report->start_count.has_value());
  EXPECT_TRUE(report->remains.has_value());
  EXPECT_EQ(fake_stat(fake, "ok"), 1U);
}

TEST(ProviderClient, ParsesNumbersSentAsStrings) {
  test::TempDir dir;
  FakeProvider fake(dir, {"--numbers-as-strings"});
  boost::asio::io_context io;
  Client client(io, client_config(fake.base_url()));

  FetchResult first = fetch_one(io, client, "2002");
  FetchResult second = fetch_one(io, client, "2002");

  const auto* report = std::get_if<StatusReport>(&second.answer);
  ASSERT_NE(report, nullptr) << describe(second);
  EXPECT_TRUE(report->start_count.has_value());
  EXPECT_TRUE(report->remains.has_value());
  EXPECT_FALSE(first.transport_error) << describe(first);
}

TEST(ProviderClient, UnknownOrderIsRejection) {
  test::TempDir dir;
  FakeProvider fake(dir);
  boost::asio::io_context io;
  Client client(io, client_config(fake.base_url()));

  FetchResult result = fetch_one(io, client, "404123");

  ASSERT_FALSE(result.transport_error) << describe(result);
  const auto* rejection = std::get_if<Rejection>(&result.answer);
  ASSERT_NE(rejection, nullptr) << describe(result);
  EXPECT_EQ(rejection->message, "Pesanan tidak ditemukan");
}

TEST(ProviderClient, WrongCredentialsAreRejection) {
  test::TempDir dir;
  FakeProvider fake(dir);
  boost::asio::io_context io;
  config::ProviderConfig config = client_config(fake.base_url());
  config.api_key = config::Secret("wrong key & more");
  Client client(io, config);

  FetchResult result = fetch_one(io, client, "1001");

  const auto* rejection = std::get_if<Rejection>(&result.answer);
  ASSERT_NE(rejection, nullptr) << describe(result);
  EXPECT_EQ(rejection->message, "API Key salah");
  EXPECT_EQ(fake_stat(fake, "auth_failures"), 1U);
}

TEST(ProviderClient, HundredConcurrentFetchesReuseConnections) {
  test::TempDir dir;
  FakeProvider fake(dir, {"--latency-ms", "5"});
  boost::asio::io_context io;
  config::ProviderConfig config = client_config(fake.base_url());
  Client client(io, config);

  Collector first_batch(io, 100);
  for (int i = 0; i < 100; ++i) client.fetch_status(std::to_string(5000 + i), first_batch.callback());
  EXPECT_EQ(client.in_flight(), 100U);
  first_batch.run();

  ASSERT_EQ(first_batch.results().size(), 100U);
  for (const FetchResult& result : first_batch.results()) {
    EXPECT_TRUE(std::holds_alternative<StatusReport>(result.answer)) << describe(result);
  }
  EXPECT_EQ(client.in_flight(), 0U);
  // The fake also counts the connection of this /stats request itself.
  EXPECT_LE(fake_stat(fake, "max_concurrent"), static_cast<std::uint64_t>(config.max_in_flight) + 1);

  // The same cached sockets must carry a second batch: no new connections.
  std::set<std::string> cached = open_connections_to(fake.base_url());
  EXPECT_FALSE(cached.empty());
  EXPECT_LE(cached.size(), static_cast<std::size_t>(config.max_in_flight));
  Collector second_batch(io, 20);
  for (int i = 0; i < 20; ++i) client.fetch_status(std::to_string(6000 + i), second_batch.callback());
  second_batch.run();
  ASSERT_EQ(second_batch.results().size(), 20U);
  EXPECT_EQ(open_connections_to(fake.base_url()), cached);
  EXPECT_EQ(fake_stat(fake, "status_requests"), 120U);
}

// This host's name, when it resolves to 127.0.0.1 (as through /etc/hosts),
// else "". libcurl resolves "localhost" by itself, but any other name goes
// through its threaded resolver and that resolver's socketpair.
std::string loopback_host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "";
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* found = nullptr;
  if (::getaddrinfo(name, nullptr, &hints, &found) != 0) return "";
  bool loopback = false;
  for (addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
    const auto* address = reinterpret_cast<const sockaddr_in*>(entry->ai_addr);
    loopback = loopback || address->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
  }
  ::freeaddrinfo(found);
  return loopback ? name : "";
}

TEST(ProviderClient, ResolvedHostNameWorks) {
  const std::string host = loopback_host_name();
  if (host.empty()) GTEST_SKIP() << "this host's name does not resolve to 127.0.0.1";
  test::TempDir dir;
  FakeProvider fake(dir);
  std::string base_url = fake.base_url();
  base_url.replace(base_url.find("127.0.0.1"), 9, host);
  boost::asio::io_context io;

  // A new client has an empty DNS cache, so each round runs the resolver.
  for (int round = 0; round < 10; ++round) {
    Client client(io, client_config(base_url));
    Collector collector(io, 4);
    for (int i = 0; i < 4; ++i) client.fetch_status(std::to_string(8000 + i), collector.callback());
    collector.run();

    ASSERT_EQ(collector.results().size(), 4U) << "round " << round;
    for (const FetchResult& result : collector.results()) {
      EXPECT_TRUE(std::holds_alternative<StatusReport>(result.answer)) << describe(result);
    }
  }
}

TEST(ProviderClient, SlowAnswerGivesTimeout) {
  test::TempDir dir;
  FakeProvider fake(dir, {"--rate-slow", "1", "--slow-ms", "5000"});
  boost::asio::io_context io;
  config::ProviderConfig config = client_config(fake.base_url());
  config.request_timeout = 300ms;
  Client client(io, config);

  FetchResult result = fetch_one(io, client, "1001");

  EXPECT_EQ(result.transport_error, make_error_code(errc::http_timeout)) << describe(result);
  EXPECT_LT(result.latency, std::chrono::microseconds(4s));
}

TEST(ProviderClient, TooManyRequestsKeepsStatusAndRetryAfter) {
  test::TempDir dir;
  FakeProvider fake(dir, {"--rate-429", "1", "--retry-after", "30"});
  boost::asio::io_context io;
  Client client(io, client_config(fake.base_url()));

  FetchResult result = fetch_one(io, client, "1001");

  EXPECT_FALSE(result.transport_error) << describe(result);
  EXPECT_EQ(result.http_status, 429);
  EXPECT_EQ(result.retry_after, std::chrono::seconds(30));
  EXPECT_FALSE(std::holds_alternative<StatusReport>(result.answer)) << describe(result);
}

// Sets environment variables for one test and restores them afterwards.
class ScopedEnvironment {
 public:
  ScopedEnvironment(std::initializer_list<std::pair<const char*, const char*>> values) {
    for (const auto& [name, value] : values) {
      const char* old = std::getenv(name);
      saved_.push_back({name, old != nullptr, old != nullptr ? old : ""});
      ::setenv(name, value, 1);
    }
  }
  ~ScopedEnvironment() {
    for (const Saved& saved : saved_) {
      if (saved.was_set) {
        ::setenv(saved.name.c_str(), saved.value.c_str(), 1);
      } else {
        ::unsetenv(saved.name.c_str());
      }
    }
  }
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;

 private:
  struct Saved {
    std::string name;
    bool was_set;
    std::string value;
  };
  std::vector<Saved> saved_;
};

// The client reads the proxy variables once, so they must be set before it
// is made; a proxy that refuses connections shows they were honoured.
TEST(ProviderClient, ProxyVariableIsHonoured) {
  test::TempDir dir;
  FakeProvider fake(dir);
  RefusingPort proxy;
  ScopedEnvironment environment{{"http_proxy", proxy.base_url().c_str()}, {"no_proxy", ""},
                                {"NO_PROXY", ""}};
  boost::asio::io_context io;
  Client client(io, client_config(fake.base_url()));

  FetchResult result = fetch_one(io, client, "1001");

  EXPECT_EQ(result.transport_error, make_error_code(errc::http_transport)) << describe(result);
}

TEST(ProviderClient, NoProxyVariableExemptsTheProvider) {
  test::TempDir dir;
  FakeProvider fake(dir);
  RefusingPort proxy;
  ScopedEnvironment environment{{"http_proxy", proxy.base_url().c_str()},
                                {"no_proxy", "127.0.0.1"}};
  boost::asio::io_context io;
  Client client(io, client_config(fake.base_url()));

  FetchResult result = fetch_one(io, client, "1001");

  EXPECT_EQ(result.http_status, 200) << describe(result);
  EXPECT_FALSE(result.transport_error) << describe(result);
}

// Reads a text field from the fake's GET /stats.
std::string fake_text_stat(const FakeProvider& fake, const char* name) {
  rapidjson::Document stats;
  stats.Parse(fake.get("/stats").c_str());
  if (!stats.IsObject() || !stats.HasMember(name) || !stats[name].IsString()) {
    ADD_FAILURE() << "fake /stats has no text field " << name;
    return {};
  }
  return stats[name].GetString();
}

TEST(ProviderClient, SendsConfiguredUserAgent) {
  test::TempDir dir;
  FakeProvider fake(dir);
  boost::asio::io_context io;
  config::ProviderConfig config = client_config(fake.base_url());
  config.user_agent = "panel-sync/2 (example)";
  Client client(io, config);

  fetch_one(io, client, "1001");
  fetch_one(io, client, "1002");

  EXPECT_EQ(fake_text_stat(fake, "last_user_agent"), "panel-sync/2 (example)");
}

TEST(ProviderClient, EmptyUserAgentSendsNone) {
  test::TempDir dir;
  FakeProvider fake(dir);
  boost::asio::io_context io;
  config::ProviderConfig config = client_config(fake.base_url());
  config.user_agent = "";
  Client client(io, config);

  FetchResult result = fetch_one(io, client, "1001");

  EXPECT_EQ(result.http_status, 200) << describe(result);
  EXPECT_EQ(fake_text_stat(fake, "last_user_agent"), "");
}

TEST(ProviderClient, RetryAfterResetsOnReusedHandle) {
  test::TempDir dir;
  FakeProvider fake(dir, {"--rate-429", "1", "--retry-after", "30"});
  boost::asio::io_context io;
  config::ProviderConfig config = client_config(fake.base_url());
  config.max_in_flight = 1;  // one easy handle and one connection, both reused
  Client client(io, config);

  FetchResult throttled = fetch_one(io, client, "1001");
  ASSERT_EQ(fake.post("/control", "rate-429=0").status, 200);
  FetchResult answered = fetch_one(io, client, "1001");

  EXPECT_EQ(throttled.retry_after, std::chrono::seconds(30));
  EXPECT_EQ(answered.http_status, 200) << describe(answered);
  EXPECT_FALSE(answered.retry_after.has_value());
}

TEST(ProviderClient, ServerErrorKeepsStatusAndParsesBody) {
  test::TempDir dir;
  FakeProvider fake(dir, {"--rate-5xx", "1"});
  boost::asio::io_context io;
  Client client(io, client_config(fake.base_url()));

  FetchResult result = fetch_one(io, client, "1001");

  EXPECT_FALSE(result.transport_error) << describe(result);
  EXPECT_GE(result.http_status, 500);
  EXPECT_TRUE(std::holds_alternative<MalformedAnswer>(result.answer)) << describe(result);
}

TEST(ProviderClient, HtmlPageIsMalformedAnswer) {
  test::TempDir dir;
  FakeProvider fake(dir, {"--rate-html", "1"});
  boost::asio::io_context io;
  Client client(io, client_config(fake.base_url()));

  FetchResult result = fetch_one(io, client, "1001");

  EXPECT_FALSE(result.transport_error) << describe(result);
  EXPECT_EQ(result.http_status, 200);
  EXPECT_TRUE(std::holds_alternative<MalformedAnswer>(result.answer)) << describe(result);
}

TEST(ProviderClient, TruncatedJsonIsMalformedAnswer) {
  test::TempDir dir;
  FakeProvider fake(dir, {"--rate-malformed", "1"});
  boost::asio::io_context io;
  Client client(io, client_config(fake.base_url()));

  FetchResult result = fetch_one(io, client, "1001");

  EXPECT_FALSE(result.transport_error) << describe(result);
  EXPECT_TRUE(std::holds_alternative<MalformedAnswer>(result.answer)) << describe(result);
}

TEST(ProviderClient, BodyOverCapGivesBodyTooLarge) {
  test::TempDir dir;
  FakeProvider fake(dir);
  boost::asio::io_context io;
  config::ProviderConfig config = client_config(fake.base_url());
  config.max_response_bytes = 16;
  Client client(io, config);

  FetchResult result = fetch_one(io, client, "1001");

  EXPECT_EQ(result.transport_error, make_error_code(errc::http_body_too_large))
      << describe(result);
}

TEST(ProviderClient, RefusedConnectionGivesTransportError) {
  RefusingPort port;
  boost::asio::io_context io;
  Client client(io, client_config(port.base_url()));

  FetchResult result = fetch_one(io, client, "1001");

  EXPECT_EQ(result.transport_error, make_error_code(errc::http_transport)) << describe(result);
  EXPECT_EQ(result.http_status, 0);
}

TEST(ProviderClient, StopAbortsEveryPendingRequest) {
  test::TempDir dir;
  FakeProvider fake(dir, {"--latency-ms", "10000"});
  boost::asio::io_context io;
  Client client(io, client_config(fake.base_url()));

  Collector collector(io, 6);
  for (int i = 0; i < 6; ++i) client.fetch_status(std::to_string(7000 + i), collector.callback());
  // Wait until the requests are on the wire. The fake is another process,
  // so its counters are polled while the client's loop runs.
  const auto deadline = std::chrono::steady_clock::now() + kRunLimit;
  while (fake_stat(fake, "status_requests") < 4 && std::chrono::steady_clock::now() < deadline) {
    io.run_for(20ms);
  }

  client.stop();
  EXPECT_EQ(client.in_flight(), 0U);
  EXPECT_TRUE(collector.results().empty()) << "callbacks must be posted, not run inside stop()";
  collector.run();

  ASSERT_EQ(collector.results().size(), 6U);
  for (const FetchResult& result : collector.results()) {
    EXPECT_EQ(result.transport_error, make_error_code(errc::shutting_down)) << describe(result);
  }
}

TEST(ProviderClient, FetchAfterStopIsShuttingDown) {
  RefusingPort port;
  boost::asio::io_context io;
  Client client(io, client_config(port.base_url()));
  client.stop();

  Collector collector(io, 1);
  client.fetch_status("1001", collector.callback());
  EXPECT_TRUE(collector.results().empty()) << "the callback must not run inside fetch_status()";
  collector.run();

  ASSERT_EQ(collector.results().size(), 1U);
  EXPECT_EQ(collector.results().front().transport_error, make_error_code(errc::shutting_down));
}

TEST(ProviderClient, DestroyedClientRunsNoCallback) {
  test::TempDir dir;
  FakeProvider fake(dir, {"--latency-ms", "10000"});
  boost::asio::io_context io;
  auto client = std::make_unique<Client>(io, client_config(fake.base_url()));

  int callbacks = 0;
  client->fetch_status("1001", [&callbacks](FetchResult) { ++callbacks; });
  client->fetch_status("1002", [&callbacks](FetchResult) { ++callbacks; });
  const auto deadline = std::chrono::steady_clock::now() + kRunLimit;
  while (fake_stat(fake, "status_requests") < 2 && std::chrono::steady_clock::now() < deadline) {
    io.run_for(20ms);
  }
  client->stop();  // posts two callbacks, which the destruction below must skip
  client.reset();

  // With the client gone nothing is left to wait on, so run() returns once
  // the cancelled waits have drained.
  io.restart();
  io.run_for(kRunLimit);
  EXPECT_TRUE(io.stopped());
  EXPECT_EQ(callbacks, 0);
}

}  // namespace
}  // namespace smm::provider
