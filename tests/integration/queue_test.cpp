// smm::queue::Queue against a real redis-server: the shared one from
// SMM_TEST_REDIS_URL (each test under its own key prefix), or a private
// child redis-server for the tests that stop, restart or flush the server.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "common/error.hpp"
#include "common/order_id.hpp"
#include "queue/queue.hpp"
#include "support/support.hpp"

namespace {

using namespace std::chrono_literals;
using smm::queue::Claim;
using smm::queue::ClaimResult;
using smm::queue::Completion;
using smm::queue::DeadLetter;
using smm::queue::DrainResult;
using smm::queue::Queue;
using smm::queue::Stats;

constexpr auto kCallbackTimeout = 10s;

// Runs `io` until `finished()` returns true or `timeout` passes. Returns
// whether it did.
template <typename F>
bool run_until(boost::asio::io_context& io, F finished, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!finished()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    if (io.stopped()) io.restart();
    io.run_one_for(deadline - now);
  }
  return true;
}

template <typename T>
struct Outcome {
  std::error_code ec;
  T value{};
};

// Starts one queue operation and drives the io_context until its callback ran.
template <typename T, typename Start>
Outcome<T> call(boost::asio::io_context& io, Start start) {
  std::optional<Outcome<T>> outcome;
  start([&outcome](std::error_code ec, T value) { outcome = Outcome<T>{ec, std::move(value)}; });
  if (!run_until(io, [&] { return outcome.has_value(); }, kCallbackTimeout)) {
    ADD_FAILURE() << "queue callback did not run within " << kCallbackTimeout.count() << " s";
    return Outcome<T>{make_error_code(smm::errc::redis_timeout), T{}};
  }
  return *outcome;
}

// Drives the io_context for `duration` (an Asio timer, not a sleep).
void run_for(boost::asio::io_context& io, std::chrono::milliseconds duration) {
  boost::asio::steady_timer timer(io, duration);
  bool fired = false;
  timer.async_wait([&fired](const boost::system::error_code&) { fired = true; });
  run_until(io, [&] { return fired; }, duration + 5s);
}

// A TCP port on 127.0.0.1 that nothing listens on right now.
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
            getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  close(fd);
  if (!ok) throw std::runtime_error("cannot find a free loopback port");
  return ntohs(address.sin_port);
}

// A redis-server child on a fixed loopback port, restartable on that port.
class PrivateRedis {
 public:
  // A non-empty `password` starts the server with --requirepass.
  explicit PrivateRedis(std::string password = "") : port_(free_port()), password_(std::move(password)) {
    start();
  }

  void start() {
    std::vector<std::string> args{"--bind", "127.0.0.1", "--port", std::to_string(port_), "--save", "",
                                  "--appendonly", "no", "--dir", dir_.path()};
    if (!password_.empty()) args.insert(args.end(), {"--requirepass", password_});
    process_ = std::make_unique<smm::test::Process>("redis-server", args, dir_.file("redis.log"));
    bool up = smm::test::eventually(
        [&] {
          try {
            smm::test::SyncRedis probe(url(password_.empty() ? "" : ":" + password_ + "@"));
            return true;
          } catch (const std::exception&) {
            return false;
          }
        },
        10s);
    if (!up) throw std::runtime_error("private redis-server did not start; see " + dir_.file("redis.log"));
  }

  void kill_and_wait() {
    process_->signal(SIGKILL);
    process_->wait(10s);
  }

  smm::test::Process& process() { return *process_; }
  std::string url(const std::string& credentials = "", int db = 0) const {
    return "redis://" + credentials + "127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
  }

 private:
  smm::test::TempDir dir_;
  int port_;
  std::string password_;
  std::unique_ptr<smm::test::Process> process_;
};

rapidjson::Document parse_json(const std::string& text) {
  rapidjson::Document document;
  document.Parse(text.data(), text.size());
  return document;
}

class QueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = smm::test::redis_url();
    if (url_.empty()) GTEST_SKIP() << "SMM_TEST_REDIS_URL is not set; scripts/test starts Redis and sets it";
    prefix_ = smm::test::unique_name("queue_test");
    redis_.url = url_;
    redis_.key_prefix = prefix_;
    redis_.reconnect_min = 20ms;
    redis_.reconnect_max = 200ms;
    redis_.idle_poll = 200ms;
    sync_ = std::make_unique<smm::test::SyncRedis>(url_);
  }

  void TearDown() override {
    queue_.reset();
    if (!sync_) return;
    // since, attempts, failures and bump are the earlier layout's keys.
    for (const auto& name : {"inbox", "schedule", "dead", "lease", "seq", "meta", "since", "attempts", "failures",
                             "bump"}) {
      sync_->command({"DEL", key(name)});
    }
  }

  std::string key(const std::string& name) const { return "{" + prefix_ + "}:" + name; }

  // Creates the queue and runs the io_context until it reports connected.
  Queue& start_queue() {
    queue_ = std::make_unique<Queue>(io_, redis_, poll_);
    queue_->start([this](bool connected) { states_.push_back(connected); });
    bool connected = run_until(io_, [&] { return queue_->connected(); }, kCallbackTimeout);
    EXPECT_TRUE(connected) << "queue did not connect to " << redis_.url;
    return *queue_;
  }

  std::int64_t redis_now_ms() {
    auto time = sync_->command({"TIME"});
    return std::stoll(time.at(0)) * 1000 + std::stoll(time.at(1)) / 1000;
  }

  std::optional<std::int64_t> score(const std::string& id) {
    auto reply = sync_->command({"ZSCORE", key("schedule"), id});
    if (reply.empty()) return std::nullopt;
    return static_cast<std::int64_t>(std::stod(reply.front()));
  }

  bool hash_has(const std::string& name, const std::string& id) {
    return sync_->integer({"HEXISTS", key(name), id}) == 1;
  }

  // The value of `id` in the hash `name`, or "" when it has none.
  std::string hash_value(const std::string& name, const std::string& id) {
    auto reply = sync_->command({"HGET", key(name), id});
    return reply.empty() ? "" : reply.front();
  }

  // The meta value of `id` split into since_ms, attempts and failures;
  // nullopt when the id has no meta or it is malformed.
  std::optional<std::array<std::int64_t, 3>> meta_fields(const std::string& id) {
    std::string value = hash_value("meta", id);
    std::array<std::int64_t, 3> fields{};
    std::size_t start = 0;
    for (std::size_t i = 0; i < fields.size(); ++i) {
      std::size_t end = i + 1 < fields.size() ? value.find(':', start) : value.size();
      if (end == std::string::npos || end == start) return std::nullopt;
      fields[i] = std::stoll(value.substr(start, end - start));
      start = end + 1;
    }
    return fields;
  }

  Outcome<ClaimResult> claim(int max) {
    return call<ClaimResult>(io_, [&](auto done) { queue_->claim(max, done); });
  }

  Outcome<int> complete(std::vector<Completion> completions) {
    return call<int>(io_, [&](auto done) { queue_->complete(completions, done); });
  }

  Outcome<int> enqueue(std::vector<std::string> ids) {
    return call<int>(io_, [&](auto done) { queue_->enqueue(ids, done); });
  }

  // Claims until `id` is handed out (its lease must end first), bounded.
  std::optional<Claim> claim_when_due(const std::string& id, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto result = claim(10);
      EXPECT_FALSE(result.ec) << result.ec.message();
      for (const auto& c : result.value.claims) {
        if (c.id == id) return c;
      }
      run_for(io_, 20ms);
    }
    return std::nullopt;
  }

  Claim claim_one(const std::string& id) {
    EXPECT_EQ(enqueue({id}).value, 1);
    auto result = claim(10);
    EXPECT_FALSE(result.ec) << result.ec.message();
    for (const auto& c : result.value.claims) {
      if (c.id == id) return c;
    }
    ADD_FAILURE() << "id " << id << " was not claimed";
    return {};
  }

  std::vector<DeadLetter> dead_letters() {
    auto result = call<std::vector<DeadLetter>>(io_, [&](auto done) { queue_->dead_letters(1000, done); });
    EXPECT_FALSE(result.ec) << result.ec.message();
    return result.value;
  }

  boost::asio::io_context io_;
  std::string url_;
  std::string prefix_;
  smm::config::RedisConfig redis_;
  smm::config::PollConfig poll_;
  std::unique_ptr<smm::test::SyncRedis> sync_;
  std::unique_ptr<Queue> queue_;
  std::vector<bool> states_;
};

TEST_F(QueueTest, DrainSortsValidAndInvalidPayloads) {
  start_queue();
  const std::string binary("\xff\xfe\x00\x01", 4);
  const std::string megabyte(1024 * 1024, '7');
  std::string euros;
  for (int i = 0; i < 400; ++i) euros += "\xe2\x82\xac";  // 1200 bytes of U+20AC
  const std::vector<std::string> payloads{
      "12345", " 678 \t\n", "99999999999999999999", "", "   ", "-5", "123456789012345678901",
      "12a", "\xd9\xa1\xd9\xa2", binary, megabyte, "{\"id\":42}", euros};
  for (const auto& payload : payloads) sync_->command({"LPUSH", key("inbox"), payload});

  auto result = call<DrainResult>(io_, [&](auto done) { queue_->drain(done); });

  ASSERT_FALSE(result.ec) << result.ec.message();
  EXPECT_EQ(result.value.scheduled, 3);
  EXPECT_EQ(result.value.dead, 10);
  EXPECT_EQ(sync_->integer({"LLEN", key("inbox")}), 0);
  EXPECT_TRUE(score("12345").has_value());
  EXPECT_TRUE(score("678").has_value());
  EXPECT_TRUE(score("99999999999999999999").has_value());
  EXPECT_EQ(sync_->integer({"ZCARD", key("schedule")}), 3);
  auto meta = meta_fields("678");
  ASSERT_TRUE(meta.has_value()) << hash_value("meta", "678");
  EXPECT_LE((*meta)[0], redis_now_ms());
  EXPECT_EQ((*meta)[1], 0);
  EXPECT_EQ((*meta)[2], 0);

  std::map<std::string, rapidjson::Document> by_payload;
  for (const auto& entry : sync_->command({"LRANGE", key("dead"), "0", "-1"})) {
    auto document = parse_json(entry);
    ASSERT_FALSE(document.HasParseError()) << "dead entry is not valid JSON: " << entry.substr(0, 200);
    ASSERT_TRUE(document.IsObject());
    ASSERT_TRUE(document["payload"].IsString());
    EXPECT_TRUE(document["at"].IsInt64());
    EXPECT_GT(document["at"].GetInt64(), 0);
    by_payload[document["payload"].GetString()] = std::move(document);
  }
  ASSERT_EQ(by_payload.size(), 10u);

  // Reasons match smm::parse_order_id for every payload that is UTF-8 text.
  for (const std::string payload : {"", "   ", "-5", "123456789012345678901", "12a", "\xd9\xa1\xd9\xa2", "{\"id\":42}"}) {
    std::string reason;
    EXPECT_FALSE(smm::parse_order_id(payload, &reason));
    ASSERT_EQ(by_payload.count(payload), 1u) << "missing dead entry for '" << payload << "'";
    EXPECT_EQ(by_payload[payload]["reason"].GetString(), reason) << payload;
    EXPECT_EQ(by_payload[payload]["payload_bytes"].GetInt64(), static_cast<std::int64_t>(payload.size()));
  }

  ASSERT_EQ(by_payload.count("fffe0001"), 1u) << "binary payload is not stored hex-encoded";
  const auto& hex_entry = by_payload["fffe0001"];
  EXPECT_STREQ(hex_entry["payload_encoding"].GetString(), "hex");
  EXPECT_NE(std::string(hex_entry["reason"].GetString()).find("not valid UTF-8"), std::string::npos);

  ASSERT_EQ(by_payload.count(std::string(1024, '7')), 1u) << "1 MB payload is not cut to 1024 bytes";
  const auto& big = by_payload[std::string(1024, '7')];
  EXPECT_STREQ(big["reason"].GetString(), "id longer than 20 digits");
  EXPECT_EQ(big["payload_bytes"].GetInt64(), 1024 * 1024);

  // Cut at a character boundary: 341 whole euro signs, still plain UTF-8.
  std::string cut_euros = euros.substr(0, 341 * 3);
  ASSERT_EQ(by_payload.count(cut_euros), 1u) << "multi-byte payload was not cut at a character boundary";
  EXPECT_FALSE(by_payload[cut_euros].HasMember("payload_encoding"));
}

TEST_F(QueueTest, DeadLettersReturnsParsedEntries) {
  start_queue();
  sync_->command({"LPUSH", key("inbox"), "abc"});
  sync_->command({"LPUSH", key("dead"), "not json at all"});
  ASSERT_FALSE(call<DrainResult>(io_, [&](auto done) { queue_->drain(done); }).ec);

  auto letters = dead_letters();

  ASSERT_EQ(letters.size(), 2u);
  EXPECT_EQ(letters[0].payload, "abc");  // newest first
  EXPECT_EQ(letters[0].reason, "id is not a decimal number");
  EXPECT_GT(letters[0].at_ms, 0);
  EXPECT_EQ(letters[1].json, "not json at all");
  EXPECT_TRUE(letters[1].payload.empty());
}

TEST_F(QueueTest, DrainTakesOldestEntriesFirstUpToBatch) {
  redis_.drain_batch = 2;
  start_queue();
  for (const char* id : {"1", "2", "3"}) sync_->command({"LPUSH", key("inbox"), id});

  auto result = call<DrainResult>(io_, [&](auto done) { queue_->drain(done); });

  ASSERT_FALSE(result.ec) << result.ec.message();
  EXPECT_EQ(result.value.scheduled, 2);
  EXPECT_TRUE(score("1").has_value());
  EXPECT_TRUE(score("2").has_value());
  EXPECT_FALSE(score("3").has_value());
  EXPECT_EQ(sync_->command({"LRANGE", key("inbox"), "0", "-1"}), std::vector<std::string>{"3"});
}

TEST_F(QueueTest, LeadingZerosNameOneOrder) {
  start_queue();
  for (const char* payload : {"000123", "123", " 0123 ", "0"}) {
    sync_->command({"LPUSH", key("inbox"), payload});
  }

  auto result = call<DrainResult>(io_, [&](auto done) { queue_->drain(done); });

  ASSERT_FALSE(result.ec) << result.ec.message();
  EXPECT_EQ(result.value.scheduled, 4);
  EXPECT_EQ(sync_->integer({"ZCARD", key("schedule")}), 2);
  EXPECT_TRUE(score("123").has_value());
  EXPECT_TRUE(score("0").has_value());
  EXPECT_FALSE(score("000123").has_value());
}

TEST_F(QueueTest, DuplicateIdsOnlyMoveEarlier) {
  start_queue();
  std::int64_t now = redis_now_ms();
  sync_->command({"ZADD", key("schedule"), std::to_string(now + 3600000), "100"});
  sync_->command({"ZADD", key("schedule"), "1000", "200"});
  sync_->command({"HSET", key("meta"), "100", "5:0:0"});
  for (const char* payload : {"100", " 100 ", "100", "200"}) sync_->command({"LPUSH", key("inbox"), payload});

  auto result = call<DrainResult>(io_, [&](auto done) { queue_->drain(done); });

  ASSERT_FALSE(result.ec) << result.ec.message();
  EXPECT_EQ(sync_->integer({"ZCARD", key("schedule")}), 2);
  ASSERT_TRUE(score("100").has_value());
  EXPECT_LE(*score("100"), redis_now_ms());     // moved earlier, to "now"
  EXPECT_EQ(score("200"), std::optional<std::int64_t>(1000));  // not moved later
  EXPECT_EQ(hash_value("meta", "100"), "5:0:0");

  auto enqueued = enqueue({"200", " 300 ", "abc"});
  ASSERT_FALSE(enqueued.ec) << enqueued.ec.message();
  EXPECT_EQ(enqueued.value, 2);
  EXPECT_EQ(score("200"), std::optional<std::int64_t>(1000));
  EXPECT_TRUE(score("300").has_value());
  EXPECT_FALSE(score("abc").has_value());
}

TEST_F(QueueTest, ClaimLeasesIdsUntilTheLeaseEnds) {
  poll_.lease = 200ms;
  start_queue();
  ASSERT_EQ(enqueue({"1", "2"}).value, 2);

  auto first = claim(10);
  ASSERT_FALSE(first.ec) << first.ec.message();
  ASSERT_EQ(first.value.claims.size(), 2u);
  EXPECT_NE(first.value.claims[0].token, first.value.claims[1].token);
  EXPECT_EQ(first.value.claims[0].attempts, 0);
  EXPECT_EQ(first.value.claims[0].failures, 0);
  // Claimed ids stay in the schedule, due when the lease ends.
  ASSERT_TRUE(score("1").has_value());
  EXPECT_GT(*score("1"), redis_now_ms());

  auto second = claim(10);
  ASSERT_FALSE(second.ec) << second.ec.message();
  EXPECT_TRUE(second.value.claims.empty());
  ASSERT_TRUE(second.value.next_due_ms.has_value());
  EXPECT_EQ(*second.value.next_due_ms, std::min(*score("1"), *score("2")));

  auto again = claim_when_due("1", 5s);
  ASSERT_TRUE(again.has_value()) << "id was not claimable after its lease ended";
  std::int64_t old_token = first.value.claims[0].id == "1" ? first.value.claims[0].token
                                                          : first.value.claims[1].token;
  EXPECT_GT(again->token, old_token);
}

TEST_F(QueueTest, ClaimOfEmptyScheduleReturnsNoNextDue) {
  start_queue();
  auto result = claim(10);
  ASSERT_FALSE(result.ec) << result.ec.message();
  EXPECT_TRUE(result.value.claims.empty());
  EXPECT_FALSE(result.value.next_due_ms.has_value());
}

TEST_F(QueueTest, CompleteWithStaleTokenIsIgnored) {
  poll_.lease = 200ms;
  start_queue();
  Claim old_claim = claim_one("5");
  auto new_claim = claim_when_due("5", 5s);
  ASSERT_TRUE(new_claim.has_value());

  auto stale = complete({{"5", old_claim.token, Completion::Kind::done, 0, ""}});
  ASSERT_FALSE(stale.ec) << stale.ec.message();
  EXPECT_EQ(stale.value, 0);
  EXPECT_TRUE(score("5").has_value());
  EXPECT_TRUE(hash_has("lease", "5"));

  auto current = complete({{"5", new_claim->token, Completion::Kind::done, 0, ""}});
  ASSERT_FALSE(current.ec) << current.ec.message();
  EXPECT_EQ(current.value, 1);
  EXPECT_FALSE(score("5").has_value());
}

TEST_F(QueueTest, CompleteDoneForgetsTheId) {
  poll_.lease = 60s;
  start_queue();
  sync_->command({"HSET", key("meta"), "7", std::to_string(redis_now_ms()) + ":2:1"});
  Claim c = claim_one("7");
  EXPECT_EQ(c.attempts, 2);
  EXPECT_EQ(c.failures, 1);

  auto result = complete({{"7", c.token, Completion::Kind::done, 0, ""}});

  ASSERT_FALSE(result.ec) << result.ec.message();
  EXPECT_EQ(result.value, 1);
  EXPECT_FALSE(score("7").has_value());
  EXPECT_FALSE(hash_has("lease", "7"));
  EXPECT_FALSE(hash_has("meta", "7"));
}

TEST_F(QueueTest, CompleteRescheduleSetsDueTimeAndResetsCounters) {
  poll_.lease = 60s;
  start_queue();
  const std::string since = std::to_string(redis_now_ms() - 1000);
  sync_->command({"HSET", key("meta"), "8", since + ":3:2"});
  Claim c = claim_one("8");
  EXPECT_EQ(c.attempts, 3);
  EXPECT_EQ(c.failures, 2);
  std::int64_t due = redis_now_ms() + 3600000;

  auto result = complete({{"8", c.token, Completion::Kind::reschedule, due, ""}});

  ASSERT_FALSE(result.ec) << result.ec.message();
  EXPECT_EQ(result.value, 1);
  EXPECT_EQ(score("8"), std::optional<std::int64_t>(due));
  EXPECT_FALSE(hash_has("lease", "8"));
  EXPECT_EQ(hash_value("meta", "8"), since + ":0:0");
}

TEST_F(QueueTest, CompleteRescheduleOfBumpedIdIsDueNow) {
  poll_.lease = 60s;
  start_queue();
  Claim c = claim_one("9");
  // A producer pushes the id again while it is leased: drain moves it to
  // "now", and the next claim finds the live lease and marks it bumped.
  sync_->command({"LPUSH", key("inbox"), "9"});
  ASSERT_FALSE(call<DrainResult>(io_, [&](auto done) { queue_->drain(done); }).ec);
  auto during_lease = claim(10);
  ASSERT_FALSE(during_lease.ec) << during_lease.ec.message();
  EXPECT_TRUE(during_lease.value.claims.empty());
  ASSERT_TRUE(score("9").has_value());
  EXPECT_GT(*score("9"), redis_now_ms());  // back at the lease's end
  EXPECT_EQ(hash_value("lease", "9"), std::to_string(c.token) + ":" + std::to_string(*score("9")) + ":1");

  auto result = complete({{"9", c.token, Completion::Kind::reschedule, redis_now_ms() + 3600000, ""}});

  ASSERT_FALSE(result.ec) << result.ec.message();
  EXPECT_EQ(result.value, 1);
  EXPECT_LE(*score("9"), redis_now_ms());
  EXPECT_FALSE(hash_has("lease", "9"));
}

TEST_F(QueueTest, BumpFlagKeepsLeaseTokenAndFencing) {
  poll_.lease = 60s;
  start_queue();
  Claim c = claim_one("12");
  ASSERT_TRUE(score("12").has_value());
  const std::string plain = std::to_string(c.token) + ":" + std::to_string(*score("12"));
  EXPECT_EQ(hash_value("lease", "12"), plain);

  // Two bumps during one lease set the flag once and keep the token.
  for (int bump = 0; bump < 2; ++bump) {
    ASSERT_EQ(enqueue({"12"}).value, 1);
    auto during_lease = claim(10);
    ASSERT_FALSE(during_lease.ec) << during_lease.ec.message();
    EXPECT_TRUE(during_lease.value.claims.empty()) << "bump " << bump;
    EXPECT_EQ(hash_value("lease", "12"), plain + ":1") << "bump " << bump;
  }
  auto stats = call<Stats>(io_, [&](auto done) { queue_->stats(done); });
  ASSERT_FALSE(stats.ec) << stats.ec.message();
  EXPECT_EQ(stats.value.leased, 1);

  // A stale token still fails against a flagged lease; the holder's applies.
  EXPECT_EQ(complete({{"12", c.token + 1, Completion::Kind::done, 0, ""}}).value, 0);
  EXPECT_EQ(hash_value("lease", "12"), plain + ":1");
  std::int64_t due = redis_now_ms() + 3600000;
  ASSERT_EQ(complete({{"12", c.token, Completion::Kind::retry_transient, due, ""}}).value, 1);
  // A retry is itself the fresh poll the bump asked for, so it keeps its due time.
  EXPECT_EQ(score("12"), std::optional<std::int64_t>(due));
  EXPECT_FALSE(hash_has("lease", "12"));
}

TEST_F(QueueTest, ReleaseOfBumpedLeaseMakesIdDueNow) {
  poll_.lease = 60s;
  start_queue();
  Claim c = claim_one("13");
  ASSERT_EQ(enqueue({"13"}).value, 1);
  ASSERT_TRUE(claim(10).value.claims.empty());
  ASSERT_EQ(hash_value("lease", "13").substr(hash_value("lease", "13").size() - 2), ":1");

  auto result = call<int>(io_, [&](auto done) { queue_->release({c}, done); });

  ASSERT_FALSE(result.ec) << result.ec.message();
  EXPECT_EQ(result.value, 1);
  EXPECT_FALSE(hash_has("lease", "13"));
  EXPECT_LE(*score("13"), redis_now_ms());
}

TEST_F(QueueTest, CompleteRetriesCountFailuresAndAttempts) {
  poll_.lease = 60s;
  start_queue();
  Claim c = claim_one("10");

  ASSERT_EQ(complete({{"10", c.token, Completion::Kind::retry_transient, 1, ""}}).value, 1);
  EXPECT_EQ(score("10"), std::optional<std::int64_t>(1));
  auto after_transient = claim(10);
  ASSERT_EQ(after_transient.value.claims.size(), 1u);
  EXPECT_EQ(after_transient.value.claims[0].failures, 1);
  EXPECT_EQ(after_transient.value.claims[0].attempts, 0);

  ASSERT_EQ(complete({{"10", after_transient.value.claims[0].token, Completion::Kind::retry_transient, 1, ""}}).value, 1);
  auto after_second = claim(10);
  ASSERT_EQ(after_second.value.claims.size(), 1u);
  EXPECT_EQ(after_second.value.claims[0].failures, 2);

  ASSERT_EQ(complete({{"10", after_second.value.claims[0].token, Completion::Kind::retry_rejected, 2, ""}}).value, 1);
  EXPECT_EQ(score("10"), std::optional<std::int64_t>(2));
  auto after_rejected = claim(10);
  ASSERT_EQ(after_rejected.value.claims.size(), 1u);
  EXPECT_EQ(after_rejected.value.claims[0].attempts, 1);
  EXPECT_EQ(after_rejected.value.claims[0].failures, 0);
  auto meta = meta_fields("10");
  ASSERT_TRUE(meta.has_value()) << hash_value("meta", "10");
  EXPECT_EQ((*meta)[1], 1);
  EXPECT_EQ((*meta)[2], 0);
}

TEST_F(QueueTest, CompleteDeadMovesIdToDeadList) {
  poll_.lease = 60s;
  start_queue();
  Claim c = claim_one("11");
  const std::string reason = "order not found \xff";  // provider text need not be UTF-8

  auto result = complete({{"11", c.token, Completion::Kind::dead, 0, reason}});

  ASSERT_FALSE(result.ec) << result.ec.message();
  EXPECT_EQ(result.value, 1);
  EXPECT_FALSE(score("11").has_value());
  EXPECT_FALSE(hash_has("meta", "11"));
  EXPECT_FALSE(hash_has("lease", "11"));
  auto letters = dead_letters();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].payload, "11");
  EXPECT_EQ(letters[0].reason, "order not found ?");
  EXPECT_FALSE(parse_json(letters[0].json).HasParseError());
}

TEST_F(QueueTest, CompleteAppliesABatchAndCountsOnlyCurrentTokens) {
  poll_.lease = 60s;
  start_queue();
  ASSERT_EQ(enqueue({"21", "22"}).value, 2);
  auto claimed = claim(10);
  ASSERT_EQ(claimed.value.claims.size(), 2u);
  std::vector<Completion> batch;
  for (const auto& c : claimed.value.claims) batch.push_back({c.id, c.token, Completion::Kind::done, 0, ""});
  batch.push_back({"23", 12345, Completion::Kind::done, 0, ""});

  auto result = complete(batch);

  ASSERT_FALSE(result.ec) << result.ec.message();
  EXPECT_EQ(result.value, 2);
  EXPECT_EQ(sync_->integer({"ZCARD", key("schedule")}), 0);
}

TEST_F(QueueTest, ReleaseMakesCurrentClaimsDueNow) {
  poll_.lease = 60s;
  start_queue();
  Claim c = claim_one("31");
  Claim stale = c;
  stale.token += 1000;

  auto result = call<int>(io_, [&](auto done) { queue_->release({c, stale}, done); });

  ASSERT_FALSE(result.ec) << result.ec.message();
  EXPECT_EQ(result.value, 1);
  EXPECT_FALSE(hash_has("lease", "31"));
  EXPECT_LE(*score("31"), redis_now_ms());
  auto again = claim(10);
  ASSERT_EQ(again.value.claims.size(), 1u);
  EXPECT_EQ(again.value.claims[0].id, "31");
}

TEST_F(QueueTest, ClaimGivesUpOnOldIds) {
  poll_.give_up_after = 1000ms;
  start_queue();
  ASSERT_EQ(enqueue({"41", "42"}).value, 2);
  sync_->command({"HSET", key("meta"), "41", std::to_string(redis_now_ms() - 5000) + ":0:0"});

  auto result = claim(10);

  ASSERT_FALSE(result.ec) << result.ec.message();
  EXPECT_EQ(result.value.given_up, 1);
  ASSERT_EQ(result.value.claims.size(), 1u);
  EXPECT_EQ(result.value.claims[0].id, "42");
  EXPECT_FALSE(score("41").has_value());
  EXPECT_FALSE(hash_has("meta", "41"));
  EXPECT_FALSE(hash_has("lease", "41"));
  auto letters = dead_letters();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].payload, "41");
  EXPECT_EQ(letters[0].reason, "not final after give_up_after (1s)");
}

TEST_F(QueueTest, GiveUpClockSurvivesReschedules) {
  poll_.lease = 60s;
  poll_.give_up_after = 1000ms;
  start_queue();
  std::int64_t enqueued_at = redis_now_ms();
  ASSERT_EQ(enqueue({"44"}).value, 1);
  auto first_seen = meta_fields("44");
  ASSERT_TRUE(first_seen.has_value()) << hash_value("meta", "44");

  // Poll and reschedule as due at once until the claim gives the id up.
  int polls = 0;
  int given_up = 0;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (given_up == 0 && std::chrono::steady_clock::now() < deadline) {
    auto result = claim(10);
    ASSERT_FALSE(result.ec) << result.ec.message();
    given_up = result.value.given_up;
    for (const auto& c : result.value.claims) {
      ++polls;
      ASSERT_EQ(complete({{c.id, c.token, Completion::Kind::reschedule, 0, ""}}).value, 1);
      auto meta = meta_fields("44");
      ASSERT_TRUE(meta.has_value()) << hash_value("meta", "44");
      EXPECT_EQ((*meta)[0], (*first_seen)[0]) << "reschedule moved the first-seen time";
    }
    run_for(io_, 20ms);
  }

  ASSERT_EQ(given_up, 1) << "id 44 was not given up within 10 s";
  EXPECT_GE(polls, 1);
  EXPECT_GE(redis_now_ms() - enqueued_at, 1000);
  EXPECT_FALSE(score("44").has_value());
  EXPECT_FALSE(hash_has("meta", "44"));
  auto letters = dead_letters();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].payload, "44");
  EXPECT_EQ(letters[0].reason, "not final after give_up_after (1s)");
}

TEST_F(QueueTest, ClaimStartsMetaOfDirectlyScheduledIds) {
  start_queue();
  std::int64_t before = redis_now_ms();
  sync_->command({"ZADD", key("schedule"), std::to_string(before), "45"});

  auto result = claim(10);

  ASSERT_FALSE(result.ec) << result.ec.message();
  ASSERT_EQ(result.value.claims.size(), 1u);
  EXPECT_EQ(result.value.claims[0].attempts, 0);
  auto meta = meta_fields("45");
  ASSERT_TRUE(meta.has_value()) << hash_value("meta", "45");
  EXPECT_GE((*meta)[0], before);
  EXPECT_LE((*meta)[0], redis_now_ms());
  EXPECT_EQ((*meta)[1], 0);
  EXPECT_EQ((*meta)[2], 0);
}

TEST_F(QueueTest, KeysOfEarlierLayoutAreIgnored) {
  poll_.lease = 60s;
  poll_.give_up_after = 1000ms;
  start_queue();
  // Written by a version that kept since, attempts, failures and bump apart:
  // an id seen long ago with rejections, and a live lease in the old
  // "token:expiry_ms" form.
  std::int64_t now = redis_now_ms();
  sync_->command({"HSET", key("since"), "46", std::to_string(now - 3600000)});
  sync_->command({"HSET", key("attempts"), "46", "5"});
  sync_->command({"HSET", key("failures"), "46", "3"});
  sync_->command({"HSET", key("bump"), "46", "1"});
  sync_->command({"ZADD", key("schedule"), std::to_string(now), "46"});
  sync_->command({"ZADD", key("schedule"), std::to_string(now), "47"});
  const std::string old_lease = "900:" + std::to_string(now + 60000);
  sync_->command({"HSET", key("lease"), "47", old_lease});

  auto result = claim(10);

  ASSERT_FALSE(result.ec) << result.ec.message();
  EXPECT_EQ(result.value.given_up, 0);
  ASSERT_EQ(result.value.claims.size(), 1u);
  EXPECT_EQ(result.value.claims[0].id, "46");
  EXPECT_EQ(result.value.claims[0].attempts, 0);
  EXPECT_EQ(result.value.claims[0].failures, 0);
  // The old lease still fences: it is flagged, and its token completes it.
  EXPECT_EQ(hash_value("lease", "47"), old_lease + ":1");
  ASSERT_EQ(complete({{"47", 900, Completion::Kind::reschedule, now + 3600000, ""}}).value, 1);
  EXPECT_LE(*score("47"), redis_now_ms());
  // The old keys are left as they were.
  EXPECT_EQ(hash_value("attempts", "46"), "5");
  EXPECT_EQ(hash_value("bump", "46"), "1");
}

TEST_F(QueueTest, ClaimMovesInvalidScheduleMembersToDeadList) {
  start_queue();
  sync_->command({"ZADD", key("schedule"), "1", "not-an-id"});

  auto result = claim(10);

  ASSERT_FALSE(result.ec) << result.ec.message();
  EXPECT_TRUE(result.value.claims.empty());
  EXPECT_FALSE(score("not-an-id").has_value());
  auto letters = dead_letters();
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].payload, "not-an-id");
}

TEST_F(QueueTest, StatsCountsEachPartOfTheQueue) {
  poll_.lease = 60s;
  start_queue();
  sync_->command({"LPUSH", key("inbox"), "51", "52"});
  ASSERT_EQ(enqueue({"1", "2", "3"}).value, 3);
  ASSERT_EQ(claim(1).value.claims.size(), 1u);
  std::int64_t now = redis_now_ms();
  sync_->command({"ZADD", key("schedule"), std::to_string(now + 3600000), "4"});
  sync_->command({"ZADD", key("schedule"), std::to_string(now - 5000), "5"});
  sync_->command({"LPUSH", key("dead"), "{}"});

  auto result = call<Stats>(io_, [&](auto done) { queue_->stats(done); });

  ASSERT_FALSE(result.ec) << result.ec.message();
  EXPECT_EQ(result.value.inbox, 2);
  EXPECT_EQ(result.value.scheduled, 5);
  EXPECT_EQ(result.value.due_now, 3);
  EXPECT_EQ(result.value.leased, 1);
  EXPECT_EQ(result.value.dead, 1);
  EXPECT_GE(result.value.oldest_due_age_seconds, 5.0);
  EXPECT_LT(result.value.oldest_due_age_seconds, 60.0);
}

TEST_F(QueueTest, RequeueDeadMovesValidIdsBack) {
  poll_.lease = 60s;
  start_queue();
  for (const char* id : {"77", "88"}) {
    Claim c = claim_one(id);
    ASSERT_EQ(complete({{id, c.token, Completion::Kind::dead, 0, "gone"}}).value, 1);
  }
  sync_->command({"LPUSH", key("inbox"), "abc"});
  ASSERT_FALSE(call<DrainResult>(io_, [&](auto done) { queue_->drain(done); }).ec);
  sync_->command({"LPUSH", key("dead"), R"({"payload":"80","payload_encoding":"hex","reason":"x","at":1})"});
  sync_->command({"LPUSH", key("dead"), "not json"});
  ASSERT_EQ(sync_->integer({"LLEN", key("dead")}), 5);

  auto one = call<int>(io_, [&](auto done) { queue_->requeue_dead({"77"}, done); });
  ASSERT_FALSE(one.ec) << one.ec.message();
  EXPECT_EQ(one.value, 1);
  EXPECT_TRUE(score("77").has_value());
  EXPECT_TRUE(hash_has("meta", "77"));
  EXPECT_FALSE(score("88").has_value());
  EXPECT_EQ(sync_->integer({"LLEN", key("dead")}), 4);
  EXPECT_EQ(sync_->command({"LINDEX", key("dead"), "0"}), std::vector<std::string>{"not json"});

  auto none = call<int>(io_, [&](auto done) { queue_->requeue_dead({"zzz"}, done); });
  EXPECT_EQ(none.value, 0);

  auto all = call<int>(io_, [&](auto done) { queue_->requeue_dead({}, done); });
  ASSERT_FALSE(all.ec) << all.ec.message();
  EXPECT_EQ(all.value, 1);
  EXPECT_TRUE(score("88").has_value());
  EXPECT_FALSE(score("80").has_value());
  EXPECT_EQ(sync_->integer({"LLEN", key("dead")}), 3);
}

TEST_F(QueueTest, WaitForInboxWakesOnPush) {
  redis_.idle_poll = 30s;
  start_queue();
  // A wait issued before the blocking connection is up falls back to the
  // 30 s idle timer, so keep issuing waits until CLIENT LIST shows a BLMOVE
  // parked on the connection named "<prefix>:blocking".
  int woken = 0;
  const std::string name = "name=" + prefix_ + ":blocking ";
  bool parked = false;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!parked && std::chrono::steady_clock::now() < deadline) {
    queue_->wait_for_inbox([&woken] { ++woken; });
    run_for(io_, 50ms);
    for (const auto& clients : sync_->command({"CLIENT", "LIST"})) {
      std::size_t at = clients.find(name);
      std::size_t line_end = clients.find('\n', at);
      if (at == std::string::npos) continue;
      parked = clients.substr(at, line_end - at).find("cmd=blmove") != std::string::npos;
    }
  }
  ASSERT_TRUE(parked) << "no BLMOVE from " << name << "was seen in CLIENT LIST";
  ASSERT_EQ(woken, 0);
  auto pushed_at = std::chrono::steady_clock::now();

  sync_->command({"LPUSH", key("inbox"), "61"});

  ASSERT_TRUE(run_until(io_, [&] { return woken > 0; }, 10s));
  EXPECT_LT(std::chrono::steady_clock::now() - pushed_at, 5s);
  EXPECT_EQ(sync_->command({"LRANGE", key("inbox"), "0", "-1"}), std::vector<std::string>{"61"});
}

TEST_F(QueueTest, WaitForInboxWakesAfterIdlePoll) {
  redis_.idle_poll = 300ms;
  start_queue();
  bool woken = false;
  auto started = std::chrono::steady_clock::now();

  queue_->wait_for_inbox([&] { woken = true; });

  ASSERT_TRUE(run_until(io_, [&] { return woken; }, 10s));
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 5s);
}

TEST_F(QueueTest, CallsFailAtOnceWhileDisconnected) {
  redis_.url = "redis://127.0.0.1:" + std::to_string(free_port()) + "/0";
  queue_ = std::make_unique<Queue>(io_, redis_, poll_);
  queue_->start([](bool) {});

  auto result = call<DrainResult>(io_, [&](auto done) { queue_->drain(done); });

  EXPECT_EQ(result.ec, smm::errc::redis_disconnected);
  EXPECT_FALSE(queue_->connected());
}

TEST_F(QueueTest, StopFailsLaterCallsWithShuttingDown) {
  start_queue();
  queue_->stop();

  auto result = call<Stats>(io_, [&](auto done) { queue_->stats(done); });

  EXPECT_EQ(result.ec, smm::errc::shutting_down);
  EXPECT_FALSE(queue_->connected());
}

TEST(QueueUrl, ConstructorRejectsInvalidUrl) {
  boost::asio::io_context io;
  smm::config::RedisConfig redis;
  redis.url = "http://127.0.0.1:6379";
  EXPECT_THROW({ Queue queue(io, redis, smm::config::PollConfig{}); }, std::invalid_argument);
}

// Tests on a private redis-server that they stop, restart or flush.
class PrivateQueueTest : public QueueTest {
 protected:
  void SetUp() override {
    prefix_ = smm::test::unique_name("queue_private");
    server_ = std::make_unique<PrivateRedis>();
    url_ = server_->url();
    redis_.url = url_;
    redis_.key_prefix = prefix_;
    redis_.reconnect_min = 20ms;
    redis_.reconnect_max = 200ms;
    redis_.idle_poll = 200ms;
    sync_ = std::make_unique<smm::test::SyncRedis>(url_);
  }

  void TearDown() override {
    queue_.reset();
    sync_.reset();
    server_.reset();
  }

  std::unique_ptr<PrivateRedis> server_;
};

TEST_F(PrivateQueueTest, ReconnectsAfterServerRestart) {
  start_queue();
  ASSERT_EQ(enqueue({"1"}).value, 1);

  sync_.reset();
  server_->kill_and_wait();
  ASSERT_TRUE(run_until(io_, [&] { return !queue_->connected(); }, 10s));
  auto while_down = enqueue({"2"});
  EXPECT_TRUE(while_down.ec == smm::errc::redis_disconnected) << while_down.ec.message();

  server_->start();
  ASSERT_TRUE(run_until(io_, [&] { return queue_->connected(); }, 10s)) << "queue did not reconnect";
  // The new server has an empty script cache: scripts were loaded again.
  auto after = enqueue({"3"});
  ASSERT_FALSE(after.ec) << after.ec.message();
  EXPECT_EQ(after.value, 1);
  ASSERT_GE(states_.size(), 3u);
  EXPECT_EQ(states_[0], true);
  EXPECT_EQ(states_[1], false);
  EXPECT_EQ(states_.back(), true);
}

TEST_F(PrivateQueueTest, CommandsTimeOutWhileServerIsStopped) {
  redis_.command_timeout = 300ms;
  start_queue();
  server_->process().signal(SIGSTOP);
  struct Resume {
    PrivateRedis& server;
    ~Resume() { server.process().signal(SIGCONT); }
  } resume{*server_};

  auto started = std::chrono::steady_clock::now();
  auto result = call<Stats>(io_, [&](auto done) { queue_->stats(done); });
  auto elapsed = std::chrono::steady_clock::now() - started;

  EXPECT_EQ(result.ec, smm::errc::redis_timeout) << result.ec.message();
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 3s);
  EXPECT_TRUE(run_until(io_, [&] { return !states_.empty() && !states_.back(); }, 5s));

  server_->process().signal(SIGCONT);
  ASSERT_TRUE(run_until(io_, [&] { return queue_->connected(); }, 10s)) << "queue did not recover";
  auto after = call<Stats>(io_, [&](auto done) { queue_->stats(done); });
  EXPECT_FALSE(after.ec) << after.ec.message();
}

TEST_F(PrivateQueueTest, ReloadsScriptsAfterScriptFlush) {
  start_queue();
  sync_->command({"SCRIPT", "FLUSH"});

  auto result = enqueue({"5"});

  ASSERT_FALSE(result.ec) << result.ec.message();
  EXPECT_EQ(result.value, 1);
  EXPECT_TRUE(score("5").has_value());
}

TEST(PrivateQueueAuth, ConnectsWithPasswordAndDatabaseFromUrl) {
  PrivateRedis server("s3cret");
  boost::asio::io_context io;
  smm::config::RedisConfig redis;
  redis.url = server.url(":s3cret@", 2);
  redis.key_prefix = smm::test::unique_name("queue_auth");
  Queue queue(io, redis, smm::config::PollConfig{});
  queue.start([](bool) {});
  ASSERT_TRUE(run_until(io, [&] { return queue.connected(); }, kCallbackTimeout));

  auto result = call<int>(io, [&](auto done) { queue.enqueue({"5"}, done); });

  ASSERT_FALSE(result.ec) << result.ec.message();
  smm::test::SyncRedis sync(redis.url);
  EXPECT_EQ(sync.integer({"ZCARD", "{" + redis.key_prefix + "}:schedule"}), 1);
  smm::test::SyncRedis db0(server.url(":s3cret@", 0));
  EXPECT_EQ(db0.integer({"EXISTS", "{" + redis.key_prefix + "}:schedule"}), 0);
}

TEST(PrivateQueueAuth, StaysDisconnectedWithWrongPassword) {
  PrivateRedis server("s3cret");
  boost::asio::io_context io;
  smm::config::RedisConfig redis;
  redis.url = server.url(":wrong@");
  redis.reconnect_min = 20ms;
  redis.reconnect_max = 50ms;
  Queue queue(io, redis, smm::config::PollConfig{});
  bool ever_connected = false;
  queue.start([&](bool connected) { ever_connected = ever_connected || connected; });

  run_for(io, 500ms);

  EXPECT_FALSE(ever_connected);
  EXPECT_FALSE(queue.connected());
}

}  // namespace
