#pragma once
// The fault suite's shared fixture: one run of the real daemon against a
// table with an audit trigger, a key prefix and the fake provider, plus
// private Redis and PostgreSQL servers for the cases that restart them.
//
// The invariant each case checks, against the fake provider's record of the
// truth (GET /truth): every id pushed ends with its row holding the final
// status, start_count and remains, or in the dead list with a reason, or
// (while the run goes on) in the inbox, the schedule or a lease. The audit
// table records every row change, so a case can also assert that no row moved
// from a final status to a non-final one and that every written value is a
// state the provider reported for that id.

#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/support.hpp"

namespace smm::faults {

using namespace std::chrono_literals;

// Polls each id needs at the fake until it is final (the fake's default).
inline constexpr std::uint32_t kPollsToFinal = 3;

// A TCP port on 127.0.0.1 that nothing listened on a moment ago. For servers
// that must come back on the same port after a restart.
std::uint16_t free_port();

// A redis-server child with AOF on (appendfsync always) in its own folder.
class PrivateRedis {
 public:
  explicit PrivateRedis(const std::string& dir);
  ~PrivateRedis();
  PrivateRedis(const PrivateRedis&) = delete;
  PrivateRedis& operator=(const PrivateRedis&) = delete;

  std::string url() const;
  // Ends the server with `sig` (SIGKILL: a crash; SIGTERM: a clean stop) and
  // starts it again on the same port and data. Returns once it replies to PING.
  void restart(int sig);
  void pause() const;   // SIGSTOP: connections stay open, and no reply comes
  void resume() const;  // SIGCONT

 private:
  void start();

  std::string dir_;
  std::uint16_t port_ = 0;
  std::unique_ptr<test::Process> process_;
  int starts_ = 0;
};

// A PostgreSQL cluster of its own (initdb, pg_ctl), run as the postgres
// user when the tests run as root, because postgres refuses to run as root.
class PrivatePostgres {
 public:
  explicit PrivatePostgres(const std::string& dir);
  ~PrivatePostgres();
  PrivatePostgres(const PrivatePostgres&) = delete;
  PrivatePostgres& operator=(const PrivatePostgres&) = delete;

  std::string conninfo() const;
  // pg_ctl stop with `mode` ("immediate" is a crash, "fast" a clean stop).
  void stop(const std::string& mode);
  void start();

 private:
  std::string dir_;
  std::string bin_;
  std::uint16_t port_ = 0;
  bool running_ = false;
};

// The final state the fake reports for an id.
struct Truth {
  std::string status;  // lower-cased provider word, as the row should hold it
  long long start_count = 0;
  long long remains = 0;
};

// Where each pushed id is. `lost` and `wrong_final` must stay 0.
struct InvariantCounts {
  std::size_t ids = 0;
  std::size_t final_ok = 0;     // row contains the provider's final state
  std::size_t dead = 0;         // in the dead list with a reason
  std::size_t in_progress = 0;  // in the inbox, the schedule or a lease
  std::size_t lost = 0;         // none of the above
  std::size_t wrong_final = 0;  // row final but not the provider's final state
  std::vector<std::string> examples;  // first few lost or wrong ids, with why
};

// What the audit trigger recorded.
struct AuditCounts {
  std::size_t writes = 0;
  std::size_t final_to_non_final = 0;
  std::size_t not_reported = 0;      // values the provider never reported for that id
  std::size_t over_answers = 0;      // ids written more often than the fake sent them a well-formed response
  std::vector<std::string> examples;
};

class FaultCase : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Use these servers instead of the ones scripts/faults started; call
  // before create_table().
  void use_redis(const std::string& url) { redis_url_ = url; }
  void use_postgres(const std::string& conninfo) { pg_conninfo_ = conninfo; }
  // Connects to the servers and creates the orders table with its audit trigger.
  void create_table();

  void start_provider(std::vector<std::string> args = {});
  // Test defaults (short intervals, a 3 s lease over a 2 s request timeout)
  // with `overrides` ("section.key" -> TOML value) applied.
  void write_config(const std::map<std::string, std::string>& overrides = {});
  // Starts one more daemon instance logging to `log_name`; returns its index.
  std::size_t start_daemon(const std::string& log_name);
  test::Process& daemon(std::size_t index) { return *daemons_.at(index); }
  void kill_daemon(std::size_t index);

  // Inserts rows for `count` ids from `first` and pushes them to the inbox.
  void add_orders(long long first, int count);

  long long final_rows();
  long long writes();
  // Waits until the audit table contains at least `count` row changes, the
  // progress measure of a run (about kPollsToFinal changes per order).
  bool wait_writes(long long count, std::chrono::milliseconds timeout);
  bool wait_all_final(std::chrono::milliseconds timeout);
  // New test clients after the server behind them restarted.
  void reconnect_redis();
  void reconnect_postgres();

  InvariantCounts check_invariant(bool run_finished);
  // Asserts that no id is lost or wrongly final at this moment of a run.
  void expect_nothing_lost(const std::string& moment);
  // Lets a fault last `duration`. The length of an outage is what a case
  // tests, so this sleep waits for no event.
  static void hold_fault(std::chrono::milliseconds duration);
  AuditCounts check_audit();
  // Waits for every row to be final, then asserts the invariant and the
  // audit and prints the case's counts on one line.
  void finish(const std::string& fault, std::chrono::milliseconds timeout, const std::string& detail);

  std::string key(const std::string& name) const { return "{" + prefix_ + "}:" + name; }
  std::string daemon_logs() const;
  // Occurrences of `text` in all daemon logs of this case.
  std::size_t count_in_logs(const std::string& text) const;
  test::SyncPg& pg() { return *pg_; }
  test::SyncRedis& redis() { return *redis_; }
  const test::FakeProvider& provider() const { return *provider_; }

  test::TempDir dir_;
  std::string prefix_;
  std::string table_;
  std::string redis_url_;
  std::string pg_conninfo_;
  std::unique_ptr<test::SyncRedis> redis_;
  std::unique_ptr<test::SyncPg> pg_;
  std::unique_ptr<test::FakeProvider> provider_;
  std::vector<std::unique_ptr<test::Process>> daemons_;
  std::vector<std::string> log_names_;
  std::vector<std::string> ids_;
  std::map<std::string, Truth> truth_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::mt19937_64 random_;
  std::uint64_t seed_ = 0;
  int kills_ = 0;
  int checks_during_run_ = 0;
};

}  // namespace smm::faults
