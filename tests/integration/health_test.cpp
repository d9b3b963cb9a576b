// The operations surface of a running smm-syncd: real HTTP requests to its
// health endpoint, readiness as Redis and PostgreSQL go away and come back,
// and the systemd notifications it sends to a NOTIFY_SOCKET.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <stdexcept>
#include <thread>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "support/support.hpp"

using namespace std::chrono_literals;
using smm::test::FakeProvider;
using smm::test::HttpResponse;
using smm::test::Process;
using smm::test::SyncPg;
using smm::test::TempDir;

namespace {

constexpr auto kStartTimeout = 20s;

// ---- raw sockets, for requests http_request cannot send ----

int connect_to(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    throw std::runtime_error("connect() to the health port failed");
  }
  return fd;
}

void send_text(int fd, const std::string& text) {
  std::size_t sent = 0;
  while (sent < text.size()) {
    const auto n = send(fd, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server may close early; its response shows why
    sent += static_cast<std::size_t>(n);
  }
}

// Reads until the server closes the connection or `timeout` passes.
// Returns what arrived and whether the connection was closed.
struct Received {
  std::string data;
  bool closed = false;
};

Received read_until_close(int fd, std::chrono::milliseconds timeout) {
  Received received;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd entry{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (poll(&entry, 1, static_cast<int>(std::max<long long>(left.count(), 1))) <= 0) continue;
    const auto n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      received.closed = true;
      return received;
    }
    received.data.append(buffer, static_cast<std::size_t>(n));
  }
  return received;
}

int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// The value of one sample line of a Prometheus text, or -1 when absent.
double sample(const std::string& metrics, const std::string& series) {
  const auto at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(metrics.substr(at + series.size() + 2));
}

// ---- private servers, for tests that stop them ----

// A redis-server on a fixed free port, restartable on the same port.
class PrivateRedis {
 public:
  explicit PrivateRedis(const TempDir& dir) : dir_(dir), port_(free_port()) { start(); }

  void start() {
    process_ = std::make_unique<Process>(
        "redis-server",
        std::vector<std::string>{"--bind", "127.0.0.1", "--port", std::to_string(port_), "--save", "",
                                 "--appendonly", "no", "--dir", dir_.path()},
        dir_.file("redis-" + std::to_string(++starts_) + ".log"));
    const bool up = smm::test::eventually(
        [&] {
          try {
            smm::test::SyncRedis ping(url());
            return !ping.command({"PING"}).empty();
          } catch (const std::exception&) {
            return false;
          }
        },
        10s);
    if (!up) throw std::runtime_error("private redis-server did not start");
  }

  void stop() {
    process_->signal(SIGTERM);
    process_->wait(10s);
  }

  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }

 private:
  const TempDir& dir_;
  int port_;
  int starts_ = 0;
  std::unique_ptr<Process> process_;
};

// initdb and pg_ctl refuse to run as root, so as root they run as the
// postgres user, as scripts/lib/servers.sh does.
int run_as_postgres(const std::string& program, const std::vector<std::string>& args, std::string* output) {
  if (geteuid() != 0) return smm::test::run_command(program, args, output);
  std::vector<std::string> wrapped{"-u", "postgres", "--", program};
  wrapped.insert(wrapped.end(), args.begin(), args.end());
  return smm::test::run_command("runuser", wrapped, output);
}

std::string postgres_bin() {
  std::string best;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql")) {
    if (entry.path().string() > best) best = entry.path().string();
  }
  return best + "/bin";
}

class PrivatePostgres {
 public:
  explicit PrivatePostgres(const TempDir& dir) : port_(free_port()) {
    data_ = dir.file("pg");
    std::filesystem::create_directory(data_);
    std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all | std::filesystem::perms::group_exec |
                                                 std::filesystem::perms::others_exec);
    std::string output;
    if (geteuid() == 0) smm::test::run_command("chown", {"postgres:", data_}, &output);
    if (run_as_postgres(postgres_bin() + "/initdb", {"-D", data_ + "/data", "-U", "smm", "-A", "trust", "--no-sync"},
                        &output) != 0) {
      throw std::runtime_error("initdb failed: " + output);
    }
    start();
    if (smm::test::run_command(postgres_bin() + "/createdb",
                               {"-h", "127.0.0.1", "-p", std::to_string(port_), "-U", "smm", "smm"}, &output) != 0) {
      throw std::runtime_error("createdb failed: " + output);
    }
  }

  ~PrivatePostgres() { stop(); }

  void start() {
    std::string output;
    if (run_as_postgres(postgres_bin() + "/pg_ctl",
                        {"-D", data_ + "/data", "-l", data_ + "/postgres.log", "-w", "-o",
                         "-h 127.0.0.1 -p " + std::to_string(port_) + " -k " + data_ + " -c fsync=off", "start"},
                        &output) != 0) {
      throw std::runtime_error("pg_ctl start failed: " + output);
    }
    running_ = true;
  }

  void stop() {
    if (!running_) return;
    std::string output;
    run_as_postgres(postgres_bin() + "/pg_ctl", {"-D", data_ + "/data", "-m", "fast", "-w", "stop"}, &output);
    running_ = false;
  }

  std::string conninfo() const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " user=smm dbname=smm";
  }

 private:
  int port_;
  std::string data_;
  bool running_ = false;
};

// ---- the daemon ----

class HealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (smm::test::redis_url().empty() || smm::test::pg_conninfo().empty()) {
      GTEST_SKIP() << "SMM_TEST_REDIS_URL and SMM_TEST_PG_CONNINFO are unset; run scripts/test";
    }
    redis_url_ = smm::test::redis_url();
    pg_conninfo_ = smm::test::pg_conninfo();
    prefix_ = smm::test::unique_name("health");
    table_ = smm::test::unique_name("orders");
  }

  void TearDown() override {
    daemon_.reset();
    if (table_created_) {
      try {
        SyncPg(pg_conninfo_).exec("DROP TABLE IF EXISTS " + table_);
      } catch (const std::exception&) {
      }
    }
  }

  void create_table() {
    SyncPg(pg_conninfo_).exec("CREATE TABLE " + table_ +
                              " (id bigserial PRIMARY KEY, provider_order_id bigint UNIQUE NOT NULL,"
                              " status text NOT NULL DEFAULT 'pending', start_count bigint, remains bigint,"
                              " provider_synced_at timestamptz)");
    table_created_ = true;
  }

  // Starts the fake provider and the daemon with test defaults plus
  // `overrides` ("section.key" -> TOML value), and waits for the port file.
  void start(const std::map<std::string, std::string>& overrides = {},
             const std::map<std::string, std::string>& env = {}) {
    create_table();
    provider_ = std::make_unique<FakeProvider>(dir_);
    std::map<std::string, std::map<std::string, std::string>> sections;
    auto set = [&](const std::string& dotted, const std::string& value) {
      const auto dot = dotted.find('.');
      sections[dotted.substr(0, dot)][dotted.substr(dot + 1)] = value;
    };
    set("provider.base_url", "\"" + provider_->base_url() + "\"");
    set("provider.rate_limit", "500.0");
    set("provider.burst", "50");
    set("provider.request_timeout", "\"2s\"");
    set("redis.url", "\"" + redis_url_ + "\"");
    set("redis.key_prefix", "\"" + prefix_ + "\"");
    set("redis.idle_poll", "\"200ms\"");
    set("redis.reconnect_max", "\"300ms\"");
    set("postgres.conninfo", "\"" + pg_conninfo_ + "\"");
    set("postgres.table", "\"" + table_ + "\"");
    set("postgres.reconnect_max", "\"300ms\"");
    set("poll.pending_interval", "\"300ms\"");
    set("poll.processing_interval", "\"300ms\"");
    set("poll.lease", "\"5s\"");
    set("health.listen", "\"127.0.0.1:0\"");
    set("health.port_file", "\"" + dir_.file("health.port") + "\"");
    set("health.stats_interval", "\"200ms\"");
    set("shutdown.grace", "\"2s\"");
    for (const auto& [dotted, value] : overrides) set(dotted, value);

    std::string text;
    for (const auto& [section, keys] : sections) {
      text += "[" + section + "]\n";
      for (const auto& [key, value] : keys) text += key + " = " + value + "\n";
    }
    dir_.write("smm-syncd.toml", text);

    std::map<std::string, std::string> environment{{"CENTRALSMM_API_ID", FakeProvider::kApiId},
                                                   {"CENTRALSMM_API_KEY", FakeProvider::kApiKey},
                                                   {"CENTRALSMM_SECRET_KEY", FakeProvider::kSecretKey}};
    environment.insert(env.begin(), env.end());
    daemon_ = std::make_unique<Process>(
        SMM_DAEMON_PATH, std::vector<std::string>{"run", "--config", dir_.file("smm-syncd.toml")},
        dir_.file("daemon.log"), environment);

    const std::string port_file = dir_.file("health.port");
    ASSERT_TRUE(smm::test::eventually([&] { return std::filesystem::exists(port_file); }, kStartTimeout)) << log();
    port_ = std::stoi(smm::test::read_file(port_file));
    base_url_ = "http://127.0.0.1:" + std::to_string(port_);
  }

  HttpResponse get(const std::string& path) { return smm::test::http_request(base_url_, "GET", path); }
  std::string metrics() { return get("/metrics").body; }
  int readyz_status() { return get("/readyz").status; }

  void push_orders(long long first, int count) {
    SyncPg(pg_conninfo_).exec("INSERT INTO " + table_ + " (provider_order_id) SELECT g FROM generate_series(" +
                              std::to_string(first) + ", " + std::to_string(first + count - 1) + ") AS g");
    smm::test::SyncRedis redis(redis_url_);
    for (int i = 0; i < count; ++i) redis.command({"LPUSH", "{" + prefix_ + "}:inbox", std::to_string(first + i)});
  }

  long long not_final() {
    return std::stoll(SyncPg(pg_conninfo_).query("SELECT count(*) FROM " + table_ +
                                                 " WHERE status NOT IN ('success','partial','error','canceled')")[0][0]);
  }

  std::string log() const {
    try {
      return smm::test::read_file(dir_.file("daemon.log"));
    } catch (const std::exception&) {
      return "(no daemon log)";
    }
  }

  TempDir dir_;
  std::string redis_url_;
  std::string pg_conninfo_;
  std::string prefix_;
  std::string table_;
  bool table_created_ = false;
  std::unique_ptr<FakeProvider> provider_;
  std::unique_ptr<Process> daemon_;
  int port_ = 0;
  std::string base_url_;
};

}  // namespace

TEST_F(HealthTest, ServesEachPathWithItsStatus) {
  start();
  EXPECT_NE(log().find("health_listening address=127.0.0.1:" + std::to_string(port_)), std::string::npos) << log();

  for (const char* path : {"/healthz", "/livez"}) {
    const HttpResponse live = get(path);
    EXPECT_EQ(live.status, 200) << path;
    EXPECT_NE(live.body.find("\"status\":\"ok\""), std::string::npos) << live.body;
  }

  ASSERT_TRUE(smm::test::eventually([&] { return readyz_status() == 200; }, kStartTimeout)) << log();
  rapidjson::Document ready;
  ready.Parse(get("/readyz").body.c_str());
  ASSERT_FALSE(ready.HasParseError());
  EXPECT_STREQ(ready["status"].GetString(), "ready");
  EXPECT_STREQ(ready["checks"]["redis"].GetString(), "up");
  EXPECT_STREQ(ready["checks"]["postgres"].GetString(), "up");
  EXPECT_STREQ(ready["checks"]["provider"].GetString(), "up");

  const HttpResponse scraped = get("/metrics");
  EXPECT_EQ(scraped.status, 200);
  EXPECT_NE(scraped.headers.find("text/plain; version=0.0.4"), std::string::npos) << scraped.headers;
  EXPECT_TRUE(std::regex_search(scraped.body, std::regex("\nsmm_syncd_build_info\\{version=\"[0-9.]+\"\\} 1\n")))
      << scraped.body;
  EXPECT_EQ(sample(scraped.body, "smm_syncd_dependency_up{dependency=\"redis\"}"), 1);
  EXPECT_NE(scraped.body.find("# TYPE smm_syncd_provider_request_duration_seconds histogram"), std::string::npos);

  EXPECT_EQ(get("/nothing").status, 404);
  EXPECT_EQ(get("/").status, 404);
  const HttpResponse post = smm::test::http_request(base_url_, "POST", "/metrics", "x=1");
  EXPECT_EQ(post.status, 405);
  EXPECT_NE(post.headers.find("Allow: GET"), std::string::npos) << post.headers;
  EXPECT_EQ(smm::test::http_request(base_url_, "DELETE", "/healthz").status, 405);

  // The endpoint counted its responses.
  const std::string after = metrics();
  EXPECT_GE(sample(after, "smm_syncd_health_responses_total{code=\"404\"}"), 2) << after;
  EXPECT_GE(sample(after, "smm_syncd_health_responses_total{code=\"405\"}"), 2) << after;
}

TEST_F(HealthTest, CutsOffOversizedRequests) {
  start({{"health.max_request_bytes", "1024"}});

  const int header_fd = connect_to(port_);
  send_text(header_fd, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + std::string(8000, 'a') + "\r\n\r\n");
  const Received header_answer = read_until_close(header_fd, 5s);
  close(header_fd);
  EXPECT_EQ(header_answer.data.rfind("HTTP/1.1 431 ", 0), 0u) << header_answer.data;
  EXPECT_TRUE(header_answer.closed);

  const int body_fd = connect_to(port_);
  send_text(body_fd, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + std::string(4000, 'b'));
  const Received body_answer = read_until_close(body_fd, 5s);
  close(body_fd);
  EXPECT_EQ(body_answer.data.rfind("HTTP/1.1 413 ", 0), 0u) << body_answer.data;
  EXPECT_TRUE(body_answer.closed);

  const int garbage_fd = connect_to(port_);
  send_text(garbage_fd, "NOT HTTP AT ALL\r\n\r\n");
  const Received garbage_answer = read_until_close(garbage_fd, 5s);
  close(garbage_fd);
  EXPECT_EQ(garbage_answer.data.rfind("HTTP/1.1 400 ", 0), 0u) << garbage_answer.data;

  // A request within the limit still gets a response.
  EXPECT_EQ(get("/healthz").status, 200);
}

TEST_F(HealthTest, CutsOffSlowClient) {
  start({{"health.read_timeout", "\"300ms\""}});
  const int fd = connect_to(port_);
  send_text(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n");  // never finished
  const auto started = std::chrono::steady_clock::now();
  const Received answer = read_until_close(fd, 5s);
  const auto elapsed = std::chrono::steady_clock::now() - started;
  close(fd);
  EXPECT_TRUE(answer.closed);
  EXPECT_TRUE(answer.data.empty()) << answer.data;
  EXPECT_LT(elapsed, 3s);
  EXPECT_EQ(get("/healthz").status, 200);
}

TEST_F(HealthTest, ClosesConnectionsBeyondLimit) {
  start({{"health.max_connections", "2"}, {"health.read_timeout", "\"10s\""}});
  // Two idle connections take both slots; the server accepts in order.
  const int first = connect_to(port_);
  const int second = connect_to(port_);
  const int third = connect_to(port_);
  const Received rejected = read_until_close(third, 5s);
  close(third);
  EXPECT_TRUE(rejected.closed);
  EXPECT_TRUE(rejected.data.empty());

  close(first);
  close(second);
  // Once the server has seen them close, a new client is served again.
  ASSERT_TRUE(smm::test::eventually(
      [&] {
        try {
          return get("/healthz").status == 200;
        } catch (const std::exception&) {
          return false;
        }
      },
      5s));
  EXPECT_GE(sample(metrics(), "smm_syncd_health_connections_rejected_total"), 1);
  EXPECT_NE(log().find("health_connection_limit_reached"), std::string::npos) << log();
}

TEST_F(HealthTest, LivenessIs503AfterLoopStall) {
  start({{"health.loop_check_interval", "\"100ms\""}, {"health.stall_threshold", "\"500ms\""}});
  ASSERT_EQ(get("/healthz").status, 200);

  // A stopped process is a stalled loop. The kernel still completes the
  // connection and buffers the request, which the loop reads on resuming.
  daemon_->signal(SIGSTOP);
  const int fd = connect_to(port_);
  send_text(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::this_thread::sleep_for(1500ms);  // the stall itself, not a wait for an event
  daemon_->signal(SIGCONT);
  const Received answer = read_until_close(fd, 5s);
  close(fd);
  EXPECT_EQ(answer.data.rfind("HTTP/1.1 503 ", 0), 0u) << answer.data;
  EXPECT_NE(answer.data.find("\"stalled\""), std::string::npos) << answer.data;

  EXPECT_TRUE(smm::test::eventually([&] { return get("/healthz").status == 200; }, 5s));
  EXPECT_GE(sample(metrics(), "smm_syncd_event_loop_max_lag_seconds"), 1.0);
  EXPECT_NE(log().find("event_loop_stalled"), std::string::npos) << log();
}

TEST_F(HealthTest, MetricsMoveAsOrdersSync) {
  start();
  ASSERT_TRUE(smm::test::eventually([&] { return readyz_status() == 200; }, kStartTimeout)) << log();
  const std::string before = metrics();
  EXPECT_EQ(sample(before, "smm_syncd_polls_total{outcome=\"status_known\"}"), 0) << before;
  EXPECT_EQ(sample(before, "smm_syncd_orders_final_total"), 0) << before;

  push_orders(6100001, 40);
  ASSERT_TRUE(smm::test::eventually([&] { return not_final() == 0; }, 90s)) << log();

  // The engine completes an id in Redis after its write, so wait for that.
  ASSERT_TRUE(smm::test::eventually(
      [&] { return sample(metrics(), "smm_syncd_orders_final_total") == 40; }, 10s)) << metrics();
  const std::string after = metrics();
  EXPECT_GE(sample(after, "smm_syncd_polls_total{outcome=\"status_known\"}"), 40) << after;
  EXPECT_GE(sample(after, "smm_syncd_status_writes_total{outcome=\"updated\"}"), 40) << after;
  EXPECT_GE(sample(after, "smm_syncd_claims_total"), 40) << after;
  EXPECT_GE(sample(after, "smm_syncd_provider_request_duration_seconds_count"), 40) << after;
  EXPECT_GE(sample(after, "smm_syncd_rate_slots_granted_total"), 40) << after;
  EXPECT_GE(sample(after, "smm_syncd_inbox_drained_total"), 40) << after;
  EXPECT_EQ(sample(after, "smm_syncd_dead_letters_total{source=\"order\"}"), 0) << after;

  // The queue gauges follow within a few stats_interval periods.
  EXPECT_TRUE(smm::test::eventually(
      [&] {
        const std::string now = metrics();
        return sample(now, "smm_syncd_queue_scheduled") == 0 && sample(now, "smm_syncd_queue_inbox_length") == 0;
      },
      10s)) << metrics();
}

TEST_F(HealthTest, QueueGaugesShowBacklog) {
  // An unreachable provider keeps every pushed id scheduled.
  start({{"provider.base_url", "\"http://127.0.0.1:9\""}, {"poll.retry_base", "\"10s\""}, {"poll.retry_cap", "\"20s\""}});
  ASSERT_TRUE(smm::test::eventually([&] { return readyz_status() == 200; }, kStartTimeout)) << log();
  push_orders(6200001, 7);
  EXPECT_TRUE(smm::test::eventually(
      [&] { return sample(metrics(), "smm_syncd_queue_scheduled") == 7; }, 10s)) << metrics();
  EXPECT_TRUE(smm::test::eventually(
      [&] { return sample(metrics(), "smm_syncd_polls_total{outcome=\"transport_error\"}") >= 7; }, 10s))
      << metrics();
  EXPECT_GE(sample(metrics(), "smm_syncd_retries_total"), 7);
}

TEST_F(HealthTest, ReadinessFollowsRedisAndPostgres) {
  PrivateRedis redis(dir_);
  PrivatePostgres postgres(dir_);
  redis_url_ = redis.url();
  pg_conninfo_ = postgres.conninfo();
  start();
  ASSERT_TRUE(smm::test::eventually([&] { return readyz_status() == 200; }, kStartTimeout)) << log();

  redis.stop();
  ASSERT_TRUE(smm::test::eventually([&] { return readyz_status() == 503; }, 10s)) << log();
  rapidjson::Document down;
  down.Parse(get("/readyz").body.c_str());
  EXPECT_STREQ(down["checks"]["redis"].GetString(), "down");
  EXPECT_STREQ(down["checks"]["postgres"].GetString(), "up");
  EXPECT_EQ(get("/healthz").status, 200);  // liveness does not depend on Redis
  EXPECT_EQ(sample(metrics(), "smm_syncd_dependency_up{dependency=\"redis\"}"), 0);

  redis.start();
  EXPECT_TRUE(smm::test::eventually([&] { return readyz_status() == 200; }, 15s)) << log();

  postgres.stop();
  ASSERT_TRUE(smm::test::eventually([&] { return readyz_status() == 503; }, 10s)) << log();
  down.Parse(get("/readyz").body.c_str());
  EXPECT_STREQ(down["checks"]["postgres"].GetString(), "down");
  EXPECT_STREQ(down["checks"]["redis"].GetString(), "up");

  postgres.start();
  EXPECT_TRUE(smm::test::eventually([&] { return readyz_status() == 200; }, 15s)) << log();

  daemon_->signal(SIGTERM);
  EXPECT_EQ(daemon_->wait(10s), 0) << log();
  daemon_.reset();
}

// ---- systemd notifications ----

// An AF_UNIX datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path) throw std::runtime_error("notify socket path too long: " + path);
    path.copy(address.sun_path, path.size());
    if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error("bind() of the notify socket failed");
    }
  }
  ~NotifySocket() { close(fd_); }

  // Receives datagrams into messages() until `done` holds or `timeout` passes.
  template <typename F>
  bool receive_until(F done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buffer[4096];
    while (!done()) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd entry{fd_, POLLIN, 0};
      if (poll(&entry, 1, static_cast<int>(left.count())) <= 0) continue;
      const auto n = recv(fd_, buffer, sizeof buffer, 0);
      if (n > 0) messages_.emplace_back(buffer, static_cast<std::size_t>(n));
    }
    return true;
  }

  bool seen(const std::string& prefix) const {
    for (const auto& message : messages_) {
      std::size_t start = 0;
      while (start <= message.size()) {
        const auto end = message.find('\n', start);
        if (message.compare(start, prefix.size(), prefix) == 0) return true;
        if (end == std::string::npos) break;
        start = end + 1;
      }
    }
    return false;
  }

  std::string all() const {
    std::string text;
    for (const auto& message : messages_) text += "[" + message + "] ";
    return text;
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> messages_;
};

TEST_F(HealthTest, SendsSystemdNotifications) {
  NotifySocket notify(dir_.file("notify.sock"));
  start({{"health.status_interval", "\"200ms\""}},
        {{"NOTIFY_SOCKET", dir_.file("notify.sock")}, {"WATCHDOG_USEC", "400000"}});

  EXPECT_TRUE(notify.receive_until([&] { return notify.seen("READY=1"); }, kStartTimeout)) << notify.all();
  EXPECT_TRUE(notify.receive_until([&] { return notify.seen("WATCHDOG=1"); }, 5s)) << notify.all();
  EXPECT_TRUE(notify.receive_until([&] { return notify.seen("STATUS=in_flight="); }, 5s)) << notify.all();
  EXPECT_TRUE(notify.receive_until([&] { return notify.all().find("redis=up postgres=up") != std::string::npos; }, 5s))
      << notify.all();

  daemon_->signal(SIGTERM);
  EXPECT_TRUE(notify.receive_until([&] { return notify.seen("STOPPING=1"); }, 10s)) << notify.all();
  EXPECT_EQ(daemon_->wait(10s), 0) << log();
  daemon_.reset();
}
