#include "fault_case.hpp"

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rapidjson/document.h>

#include "provider_model.hpp"

namespace smm::faults {
namespace {

constexpr auto kServerStartTimeout = 30s;
const std::set<std::string> kFinalStatuses = {"success", "partial", "error", "canceled"};
constexpr std::size_t kMaxExamples = 10;

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Runs `args` as the postgres user when we are root. Throws
// std::runtime_error with the command's output on a non-zero exit.
void run_as_postgres(std::vector<std::string> args) {
  std::string program = args.front();
  args.erase(args.begin());
  if (geteuid() == 0) {
    args.insert(args.begin(), {"-u", "postgres", "--", program});
    program = "runuser";
  }
  std::string output;
  int code = test::run_command(program, args, &output);
  if (code != 0) throw std::runtime_error(program + " exited with " + std::to_string(code) + ": " + output);
}

std::string postgres_bin() {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql")) {
    if (std::filesystem::exists(entry.path() / "bin" / "pg_ctl")) found.push_back((entry.path() / "bin").string());
  }
  if (found.empty()) throw std::runtime_error("no PostgreSQL server under /usr/lib/postgresql/*/bin");
  std::sort(found.begin(), found.end());
  return found.back();
}

void add_example(std::vector<std::string>& examples, const std::string& text) {
  if (examples.size() < kMaxExamples) examples.push_back(text);
}

std::set<std::string> as_set(const std::vector<std::string>& values) { return {values.begin(), values.end()}; }

// Inbox entries as pushed, without the whitespace a producer may add.
std::set<std::string> trimmed_set(const std::vector<std::string>& values) {
  std::set<std::string> out;
  for (const auto& value : values) {
    auto first = value.find_first_not_of(" \t\r\n");
    auto last = value.find_last_not_of(" \t\r\n");
    if (first != std::string::npos) out.insert(value.substr(first, last - first + 1));
  }
  return out;
}

}  // namespace

std::uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    throw std::runtime_error("cannot bind a free port on 127.0.0.1");
  }
  close(fd);
  return ntohs(address.sin_port);
}

// ---- PrivateRedis ----

PrivateRedis::PrivateRedis(const std::string& dir) : dir_(dir), port_(free_port()) {
  std::filesystem::create_directories(dir_);
  start();
}

PrivateRedis::~PrivateRedis() {
  if (process_ && process_->running()) {
    process_->signal(SIGCONT);
    process_->signal(SIGTERM);
    process_->wait(10s);
  }
}

std::string PrivateRedis::url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }

void PrivateRedis::start() {
  ++starts_;
  process_ = std::make_unique<test::Process>(
      "redis-server",
      std::vector<std::string>{"--bind", "127.0.0.1", "--port", std::to_string(port_), "--dir", dir_,
                               "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                               "--daemonize", "no"},
      dir_ + "/redis.log");
  bool ready = test::eventually(
      [&] {
        try {
          test::SyncRedis probe(url());
          return probe.command({"PING"}) == std::vector<std::string>{"PONG"};
        } catch (const std::exception&) {
          return false;
        }
      },
      kServerStartTimeout);
  if (!ready) throw std::runtime_error("redis-server did not answer; see " + dir_ + "/redis.log");
}

void PrivateRedis::restart(int sig) {
  process_->signal(sig);
  if (!process_->wait(30s)) throw std::runtime_error("redis-server did not exit");
  start();
}

void PrivateRedis::pause() const { process_->signal(SIGSTOP); }
void PrivateRedis::resume() const { process_->signal(SIGCONT); }

// ---- PrivatePostgres ----

PrivatePostgres::PrivatePostgres(const std::string& dir) : dir_(dir), bin_(postgres_bin()), port_(free_port()) {
  std::filesystem::create_directories(dir_);
  if (geteuid() == 0) {
    // The postgres user must reach the folder; the test's TempDir is root's.
    passwd* user = getpwnam("postgres");
    if (user == nullptr) throw std::runtime_error("no postgres user to run the private cluster as");
    std::filesystem::permissions(std::filesystem::path(dir_).parent_path(),
                                 std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                     std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                     std::filesystem::perms::others_exec);
    if (chown(dir_.c_str(), user->pw_uid, user->pw_gid) != 0) throw std::runtime_error("chown failed on " + dir_);
  }
  run_as_postgres({bin_ + "/initdb", "-D", dir_ + "/data", "-U", "smm", "-A", "trust", "--no-sync"});
  start();
  std::string output;
  int code = test::run_command(bin_ + "/createdb", {"-h", "127.0.0.1", "-p", std::to_string(port_), "-U", "smm", "smm"},
                               &output);
  if (code != 0) throw std::runtime_error("createdb failed: " + output);
}

PrivatePostgres::~PrivatePostgres() {
  if (!running_) return;
  try {
    stop("immediate");
  } catch (const std::exception& error) {
    std::fprintf(stderr, "private_postgres_stop_failed error=\"%s\"\n", error.what());
  }
}

std::string PrivatePostgres::conninfo() const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=smm dbname=smm";
}

void PrivatePostgres::start() {
  run_as_postgres({bin_ + "/pg_ctl", "-D", dir_ + "/data", "-l", dir_ + "/postgres.log", "-w", "-o",
                   "-h 127.0.0.1 -p " + std::to_string(port_) + " -k " + dir_ + " -c fsync=off", "start"});
  running_ = true;
}

void PrivatePostgres::stop(const std::string& mode) {
  run_as_postgres({bin_ + "/pg_ctl", "-D", dir_ + "/data", "-m", mode, "-w", "stop"});
  running_ = false;
}

// ---- FaultCase ----

void FaultCase::SetUp() {
  redis_url_ = test::redis_url();
  pg_conninfo_ = test::pg_conninfo();
  if (redis_url_.empty() || pg_conninfo_.empty()) {
    GTEST_SKIP() << "SMM_TEST_REDIS_URL and SMM_TEST_PG_CONNINFO are unset; run scripts/faults";
  }
  // SMM_FAULT_SEED repeats a run's random moments; each run prints its seed.
  const char* seed = std::getenv("SMM_FAULT_SEED");
  seed_ = seed != nullptr ? std::strtoull(seed, nullptr, 10) : std::random_device()();
  random_.seed(seed_);
  RecordProperty("seed", std::to_string(seed_));
  std::printf("fault_case seed=%llu dir=%s\n", static_cast<unsigned long long>(seed_), dir_.path().c_str());
  prefix_ = test::unique_name("faults");
  table_ = test::unique_name("fault_orders");
}

void FaultCase::TearDown() {
  daemons_.clear();
  // A private cluster goes with its table; only the shared one needs cleaning.
  if (pg_ && pg_conninfo_ == test::pg_conninfo()) {
    try {
      pg_->exec("DROP TABLE IF EXISTS " + table_ + ", " + table_ + "_audit, " + table_ + "_fault CASCADE");
      pg_->exec("DROP FUNCTION IF EXISTS " + table_ + "_audit_row(), " + table_ + "_fault_row() CASCADE");
      pg_->exec("DROP SEQUENCE IF EXISTS " + table_ + "_fault_hits");
    } catch (const std::exception& error) {
      std::fprintf(stderr, "fault_case_cleanup_failed error=\"%s\"\n", error.what());
    }
  }
}

void FaultCase::create_table() {
  redis_ = std::make_unique<test::SyncRedis>(redis_url_);
  pg_ = std::make_unique<test::SyncPg>(pg_conninfo_);
  pg_->exec("CREATE TABLE " + table_ +
            " (id bigserial PRIMARY KEY, provider_order_id bigint UNIQUE NOT NULL,"
            " status text NOT NULL DEFAULT 'pending', start_count bigint, remains bigint,"
            " provider_synced_at timestamptz)");
  // The audit rows commit or roll back with the daemon's statement, so the
  // table lists exactly the changes that were committed.
  pg_->exec("CREATE TABLE " + table_ +
            "_audit (n bigserial PRIMARY KEY, provider_order_id bigint NOT NULL,"
            " old_status text, new_status text, old_start bigint, new_start bigint,"
            " old_remains bigint, new_remains bigint, at timestamptz NOT NULL DEFAULT clock_timestamp())");
  pg_->exec("CREATE FUNCTION " + table_ + "_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN " +
            "INSERT INTO " + table_ +
            "_audit (provider_order_id, old_status, new_status, old_start, new_start, old_remains, new_remains)"
            " VALUES (NEW.provider_order_id, OLD.status, NEW.status, OLD.start_count, NEW.start_count,"
            " OLD.remains, NEW.remains); RETURN NEW; END $$");
  pg_->exec("CREATE TRIGGER " + table_ + "_audit AFTER UPDATE ON " + table_ + " FOR EACH ROW EXECUTE FUNCTION " +
            table_ + "_audit_row()");
}

void FaultCase::start_provider(std::vector<std::string> args) {
  args.insert(args.end(), {"--polls-to-final", std::to_string(kPollsToFinal), "--seed", std::to_string(seed_)});
  provider_ = std::make_unique<test::FakeProvider>(dir_, std::move(args));
}

void FaultCase::write_config(const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::map<std::string, std::string>> sections;
  auto set = [&](const std::string& dotted, const std::string& value) {
    auto dot = dotted.find('.');
    sections[dotted.substr(0, dot)][dotted.substr(dot + 1)] = value;
  };
  set("provider.base_url", "\"" + provider_->base_url() + "\"");
  set("provider.rate_limit", "300.0");
  set("provider.burst", "30");
  set("provider.max_in_flight", "32");
  set("provider.request_timeout", "\"2s\"");
  set("provider.connect_timeout", "\"1s\"");
  set("redis.url", "\"" + redis_url_ + "\"");
  set("redis.key_prefix", "\"" + prefix_ + "\"");
  set("redis.idle_poll", "\"200ms\"");
  set("redis.command_timeout", "\"1s\"");
  set("redis.reconnect_max", "\"1s\"");
  set("postgres.conninfo", "\"" + pg_conninfo_ + "\"");
  set("postgres.table", "\"" + table_ + "\"");
  set("postgres.reconnect_max", "\"1s\"");
  set("postgres.connect_timeout", "\"2s\"");
  set("poll.pending_interval", "\"300ms\"");
  set("poll.processing_interval", "\"300ms\"");
  set("poll.lease", "\"3s\"");
  set("poll.retry_base", "\"50ms\"");
  set("poll.retry_cap", "\"500ms\"");
  set("health.listen", "\"127.0.0.1:0\"");
  set("shutdown.grace", "\"3s\"");
  for (const auto& [dotted, value] : overrides) set(dotted, value);

  std::string text;
  for (const auto& [section, keys] : sections) {
    text += "[" + section + "]\n";
    for (const auto& [name, value] : keys) text += name + " = " + value + "\n";
  }
  dir_.write("smm-syncd.toml", text);
}

std::size_t FaultCase::start_daemon(const std::string& log_name) {
  daemons_.push_back(std::make_unique<test::Process>(
      SMM_DAEMON_PATH, std::vector<std::string>{"run", "--config", dir_.file("smm-syncd.toml")},
      dir_.file(log_name),
      std::map<std::string, std::string>{{"CENTRALSMM_API_ID", test::FakeProvider::kApiId},
                                         {"CENTRALSMM_API_KEY", test::FakeProvider::kApiKey},
                                         {"CENTRALSMM_SECRET_KEY", test::FakeProvider::kSecretKey}}));
  log_names_.push_back(log_name);
  return daemons_.size() - 1;
}

void FaultCase::kill_daemon(std::size_t index) {
  daemon(index).signal(SIGKILL);
  ASSERT_TRUE(daemon(index).wait(10s).has_value()) << "daemon " << index << " survived SIGKILL";
  ++kills_;
}

void FaultCase::add_orders(long long first, int count) {
  pg_->exec("INSERT INTO " + table_ + " (provider_order_id) SELECT g FROM generate_series(" + std::to_string(first) +
            ", " + std::to_string(first + count - 1) + ") AS g");
  std::vector<std::string> batch = {"LPUSH", key("inbox")};
  for (int i = 0; i < count; ++i) {
    std::string id = std::to_string(first + i);
    ids_.push_back(id);
    batch.push_back(id);

    // The final state is fixed per id, so one request per id suffices.
    rapidjson::Document doc;
    doc.Parse(provider_->get("/truth?id=" + id).c_str());
    ASSERT_FALSE(doc.HasParseError()) << "GET /truth?id=" << id;
    truth_[id] = {lower(doc["status"].GetString()), doc["start_count"].GetInt64(), doc["remains"].GetInt64()};
  }
  redis_->command(batch);
}

long long FaultCase::final_rows() {
  return std::stoll(pg_->query("SELECT count(*) FROM " + table_ +
                               " WHERE status IN ('success','partial','error','canceled')")[0][0]);
}

long long FaultCase::writes() { return std::stoll(pg_->query("SELECT count(*) FROM " + table_ + "_audit")[0][0]); }

bool FaultCase::wait_writes(long long count, std::chrono::milliseconds timeout) {
  return test::eventually([&] { return writes() >= count; }, timeout);
}

bool FaultCase::wait_all_final(std::chrono::milliseconds timeout) {
  auto all = static_cast<long long>(ids_.size());
  return test::eventually([&] { return final_rows() >= all; }, timeout);
}

void FaultCase::reconnect_redis() { redis_ = std::make_unique<test::SyncRedis>(redis_url_); }
void FaultCase::reconnect_postgres() { pg_ = std::make_unique<test::SyncPg>(pg_conninfo_); }

// Reads Redis before PostgreSQL, and the inbox before the schedule before the
// dead list, which is the order an id moves in. So an id that moves while
// the check runs is still found in the place it moved to.
InvariantCounts FaultCase::check_invariant(bool run_finished) {
  std::set<std::string> inbox = trimmed_set(redis_->command({"LRANGE", key("inbox"), "0", "-1"}));
  std::set<std::string> scheduled = as_set(redis_->command({"ZRANGE", key("schedule"), "0", "-1"}));
  std::set<std::string> leased = as_set(redis_->command({"HKEYS", key("lease")}));
  std::map<std::string, std::string> dead_reasons;
  for (const auto& entry : redis_->command({"LRANGE", key("dead"), "0", "-1"})) {
    rapidjson::Document doc;
    doc.Parse(entry.c_str());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("payload") || !doc["payload"].IsString()) continue;
    std::string reason = doc.HasMember("reason") && doc["reason"].IsString() ? doc["reason"].GetString() : "";
    dead_reasons[doc["payload"].GetString()] = reason;
  }
  std::map<std::string, std::vector<std::string>> rows;
  for (auto& row : pg_->query("SELECT provider_order_id, status, start_count, remains FROM " + table_)) {
    rows[row[0]] = row;
  }

  InvariantCounts counts;
  counts.ids = ids_.size();
  for (const auto& id : ids_) {
    const Truth& truth = truth_.at(id);
    auto row = rows.find(id);
    if (row != rows.end() && kFinalStatuses.count(row->second[1]) > 0) {
      bool exact = row->second[1] == truth.status && row->second[2] == std::to_string(truth.start_count) &&
                   row->second[3] == std::to_string(truth.remains);
      if (exact) {
        ++counts.final_ok;
      } else {
        ++counts.wrong_final;
        add_example(counts.examples, id + " row " + row->second[1] + "/" + row->second[2] + "/" + row->second[3] +
                                         " but the provider says " + truth.status + "/" +
                                         std::to_string(truth.start_count) + "/" + std::to_string(truth.remains));
      }
      continue;
    }
    auto dead = dead_reasons.find(id);
    if (dead != dead_reasons.end() && !dead->second.empty()) {
      ++counts.dead;
      continue;
    }
    if (!run_finished && (inbox.count(id) + scheduled.count(id) + leased.count(id)) > 0) {
      ++counts.in_progress;
      continue;
    }
    ++counts.lost;
    add_example(counts.examples, id + " lost: row " + (row == rows.end() ? "missing" : row->second[1]) +
                                     ", not final, not dead, not queued");
  }
  return counts;
}

void FaultCase::expect_nothing_lost(const std::string& moment) {
  InvariantCounts counts = check_invariant(false);
  std::string examples;
  for (const auto& text : counts.examples) examples += "  " + text + "\n";
  EXPECT_EQ(counts.lost, 0u) << moment << "\n" << examples;
  EXPECT_EQ(counts.wrong_final, 0u) << moment << "\n" << examples;
  ++checks_during_run_;
}

void FaultCase::hold_fault(std::chrono::milliseconds duration) { std::this_thread::sleep_for(duration); }

AuditCounts FaultCase::check_audit() {
  AuditCounts counts;
  std::map<std::string, long long> writes_by_id;
  auto audit = pg_->query("SELECT provider_order_id, old_status, new_status, new_start, new_remains FROM " + table_ +
                          "_audit ORDER BY n");
  for (const auto& row : audit) {
    const std::string& id = row[0];
    ++counts.writes;
    ++writes_by_id[id];
    if (kFinalStatuses.count(row[1]) > 0 && kFinalStatuses.count(row[2]) == 0) {
      ++counts.final_to_non_final;
      add_example(counts.examples, id + " moved from final " + row[1] + " to " + row[2]);
    }

    // Every written (status, remains) must be a state the fake showed for this
    // id. Its start_count is the same in each state, or NULL while unreported.
    bool reported = false;
    for (std::uint32_t answer = 1; answer <= kPollsToFinal && !reported; ++answer) {
      fake::OrderState state = fake::order_state(id, answer, kPollsToFinal);
      bool start_ok = row[3] == "<null>" || row[3] == std::to_string(state.start_count);
      reported = row[2] == lower(std::string(state.status)) && row[4] == std::to_string(state.remains) && start_ok;
    }
    if (!reported) {
      ++counts.not_reported;
      add_example(counts.examples, id + " written " + row[2] + "/" + row[3] + "/" + row[4] + ", never reported");
    }
  }

  // Each write needs a well-formed response, and the fake counts those per id.
  for (const auto& [id, count] : writes_by_id) {
    rapidjson::Document doc;
    doc.Parse(provider_->get("/truth?id=" + id).c_str());
    long long answers = doc.HasParseError() ? 0 : doc["polls"].GetInt64();
    if (count > answers) {
      ++counts.over_answers;
      add_example(counts.examples, id + " written " + std::to_string(count) + " times after " +
                                       std::to_string(answers) + " answers");
    }
  }
  return counts;
}

void FaultCase::finish(const std::string& fault, std::chrono::milliseconds timeout, const std::string& detail) {
  ASSERT_TRUE(wait_all_final(timeout)) << ids_.size() - static_cast<std::size_t>(final_rows())
                                       << " rows not final after " << timeout.count() << " ms\n"
                                       << daemon_logs();
  InvariantCounts invariant = check_invariant(true);
  AuditCounts audit = check_audit();
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();

  std::string examples;
  for (const auto& text : invariant.examples) examples += "  " + text + "\n";
  for (const auto& text : audit.examples) examples += "  " + text + "\n";
  std::printf(
      "fault_case_result fault=%s orders=%zu %s kills=%d final_ok=%zu dead=%zu lost=%zu wrong_final=%zu "
      "writes=%zu final_to_non_final=%zu unreported_values=%zu over_answers=%zu checks_during_run=%d seconds=%.1f\n",
      fault.c_str(), invariant.ids, detail.c_str(), kills_, invariant.final_ok, invariant.dead, invariant.lost,
      invariant.wrong_final, audit.writes, audit.final_to_non_final, audit.not_reported, audit.over_answers, checks_during_run_, seconds);
  RecordProperty("orders", static_cast<int>(invariant.ids));
  RecordProperty("lost", static_cast<int>(invariant.lost));

  EXPECT_EQ(invariant.lost, 0u) << examples;
  EXPECT_EQ(invariant.wrong_final, 0u) << examples;
  EXPECT_EQ(invariant.dead, 0u) << "ids that the provider answers normally were dead-lettered\n" << examples;
  EXPECT_EQ(invariant.final_ok, invariant.ids) << examples;
  EXPECT_EQ(audit.final_to_non_final, 0u) << examples;
  EXPECT_EQ(audit.not_reported, 0u) << examples;
  EXPECT_EQ(audit.over_answers, 0u) << examples;
  EXPECT_TRUE(test::eventually([&] { return redis_->integer({"ZCARD", key("schedule")}) == 0; }, 30s))
      << "final ids still scheduled";
}

std::size_t FaultCase::count_in_logs(const std::string& text) const {
  std::size_t count = 0;
  for (const auto& name : log_names_) {
    std::string log;
    try {
      log = test::read_file(dir_.file(name));
    } catch (const std::exception&) {
      continue;
    }
    for (auto at = log.find(text); at != std::string::npos; at = log.find(text, at + text.size())) ++count;
  }
  return count;
}

std::string FaultCase::daemon_logs() const {
  std::string text;
  for (const auto& name : log_names_) {
    std::string log;
    try {
      log = test::read_file(dir_.file(name));
    } catch (const std::exception&) {
    }
    // Only the tail, where a stall or a crash shows; the test folder and
    // the whole logs are removed when the test ends.
    constexpr std::size_t kTail = 4000;
    if (log.size() > kTail) log = "..." + log.substr(log.size() - kTail);
    text += "--- " + name + " ---\n" + log + "\n";
  }
  return text;
}

}  // namespace smm::faults
