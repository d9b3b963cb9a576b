// The PostgreSQL store against a real server: write rules, id column types,
// quoted names, batching, schema checks, and recovery from a lost
// connection or a failed statement. Each test owns its table.

#include <chrono>
#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include "common/error.hpp"
#include "store/store.hpp"
#include "support/support.hpp"

using namespace std::chrono_literals;
using smm::errc;
using smm::store::StatusUpdate;
using smm::store::Store;
using smm::store::WriteOutcome;
using smm::test::SyncPg;

namespace {

constexpr auto kEventTimeout = 20s;

struct WriteResult {
  std::error_code error;
  WriteOutcome outcome = WriteOutcome::unchanged;
};

StatusUpdate update(std::string id, std::string status, std::optional<std::int64_t> start_count,
                    std::optional<std::int64_t> remains) {
  return {std::move(id), std::move(status), start_count, remains};
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (smm::test::pg_conninfo().empty()) {
      GTEST_SKIP() << "SMM_TEST_PG_CONNINFO is unset; run scripts/test";
    }
    pg_ = std::make_unique<SyncPg>(smm::test::pg_conninfo());
    table_ = smm::test::unique_name("store_orders");
    config_.conninfo = smm::test::pg_conninfo();
    config_.table = table_;
    config_.batch_delay = 5ms;
    // Most tests pin down batch_size and batch_delay; the idle flush has its own tests.
    config_.flush_when_idle = false;
    config_.reconnect_min = 20ms;
    config_.reconnect_max = 200ms;
  }

  void TearDown() override {
    if (store_) {
      bool stopped = false;
      store_->stop([&] { stopped = true; });
      run_until([&] { return stopped; });
      store_.reset();
    }
  }

  // A table in the default shape with an id column of `id_type`.
  void create_table(const std::string& id_type = "text") {
    pg_->exec("CREATE TABLE " + table_ + " (id bigserial PRIMARY KEY, provider_order_id " +
              id_type + ", status text, start_count bigint, remains bigint," +
              " provider_synced_at timestamptz)");
  }

  void insert(const std::string& id, const std::string& status, const std::string& start_count,
              const std::string& remains) {
    pg_->exec("INSERT INTO " + table_ + " (provider_order_id, status, start_count, remains)" +
              " VALUES ('" + id + "', '" + status + "', " + start_count + ", " + remains + ")");
  }

  // status, start_count, remains, provider_synced_at of the row with `id`.
  std::vector<std::string> row(const std::string& id, const std::string& table = "",
                               const std::string& columns = "") {
    auto rows = pg_->query(
        "SELECT " +
        (columns.empty() ? "status, start_count, remains, provider_synced_at" : columns) +
        " FROM " + (table.empty() ? table_ : table) + " WHERE provider_order_id::text = '" + id +
        "'");
    return rows.empty() ? std::vector<std::string>{} : rows.front();
  }

  template <typename Condition>
  bool run_until(Condition condition, std::chrono::milliseconds timeout = kEventTimeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition() && std::chrono::steady_clock::now() < deadline) {
      if (io_.stopped()) io_.restart();
      io_.run_for(10ms);
    }
    return condition();
  }

  // Starts the store and waits until it is ready to write.
  void start_store() {
    store_ = std::make_unique<Store>(io_, config_, finals_);
    store_->start([this](bool ready) { ready_changes_.push_back(ready); },
                  [this](std::error_code error, const std::string& detail) {
                    errors_.push_back({error, detail});
                  });
    ASSERT_TRUE(run_until([this] { return store_->ready(); })) << errors_text();
  }

  std::string errors_text() const {
    std::string text;
    for (const auto& [error, detail] : errors_) text += error.message() + ": " + detail + "\n";
    return text;
  }

  std::shared_ptr<std::optional<WriteResult>> write_async(StatusUpdate status_update) {
    auto result = std::make_shared<std::optional<WriteResult>>();
    store_->write(std::move(status_update), [result](std::error_code error, WriteOutcome outcome) {
      *result = WriteResult{error, outcome};
    });
    return result;
  }

  WriteResult write(StatusUpdate status_update) {
    auto result = write_async(std::move(status_update));
    EXPECT_TRUE(run_until([&] { return result->has_value(); })) << "write callback never ran";
    return result->value_or(WriteResult{make_error_code(errc::pg_timeout), WriteOutcome::unchanged});
  }

  boost::asio::io_context io_;
  std::unique_ptr<SyncPg> pg_;
  std::string table_;
  smm::config::PostgresConfig config_;
  std::vector<std::string> finals_{"success", "partial", "error", "canceled"};
  std::unique_ptr<Store> store_;
  std::vector<bool> ready_changes_;
  std::vector<std::pair<std::error_code, std::string>> errors_;
};

TEST_F(StoreTest, UpdatesRowWhenValuesChange) {
  create_table();
  insert("1001", "pending", "0", "100");
  start_store();

  auto result = write(update("1001", "processing", 10, 90));

  EXPECT_FALSE(result.error) << result.error.message();
  EXPECT_EQ(result.outcome, WriteOutcome::updated);
  auto values = row("1001");
  EXPECT_EQ(values[0], "processing");
  EXPECT_EQ(values[1], "10");
  EXPECT_EQ(values[2], "90");
  EXPECT_NE(values[3], "<null>");
}

TEST_F(StoreTest, SkipsWriteWhenNothingChanged) {
  create_table();
  insert("1002", "processing", "10", "90");
  start_store();

  auto result = write(update("1002", "processing", 10, 90));

  EXPECT_FALSE(result.error);
  EXPECT_EQ(result.outcome, WriteOutcome::unchanged);
  EXPECT_EQ(row("1002")[3], "<null>") << "an unchanged row must not be written";
}

TEST_F(StoreTest, NullCountsLeaveColumnsUnchanged) {
  create_table();
  insert("1003", "processing", "10", "90");
  insert("1004", "processing", "10", "90");
  start_store();

  auto changed = write(update("1003", "success", std::nullopt, std::nullopt));
  auto same = write(update("1004", "processing", std::nullopt, std::nullopt));

  EXPECT_EQ(changed.outcome, WriteOutcome::updated);
  EXPECT_EQ(row("1003"), (std::vector<std::string>{"success", "10", "90", row("1003")[3]}));
  EXPECT_EQ(same.outcome, WriteOutcome::unchanged);
  EXPECT_EQ(row("1004")[3], "<null>");
}

TEST_F(StoreTest, StoresZeroAsZero) {
  create_table();
  insert("1005", "processing", "NULL", "NULL");
  start_store();

  auto result = write(update("1005", "success", 0, 0));

  EXPECT_EQ(result.outcome, WriteOutcome::updated);
  EXPECT_EQ(row("1005")[1], "0");
  EXPECT_EQ(row("1005")[2], "0");
}

TEST_F(StoreTest, KeepsFinalStatusAgainstNonFinal) {
  create_table();
  insert("1006", "success", "10", "0");
  start_store();

  auto result = write(update("1006", "processing", 10, 5));

  EXPECT_FALSE(result.error);
  EXPECT_EQ(result.outcome, WriteOutcome::final_protected);
  EXPECT_EQ(row("1006")[0], "success");
  EXPECT_EQ(row("1006")[2], "0");
  EXPECT_EQ(row("1006")[3], "<null>");
}

// A provider may correct one final status to another (success to partial);
// the store applies it.
TEST_F(StoreTest, ReplacesFinalStatusWithAnotherFinal) {
  create_table();
  insert("1007", "success", "10", "0");
  start_store();

  auto result = write(update("1007", "partial", 10, 40));

  EXPECT_EQ(result.outcome, WriteOutcome::updated);
  EXPECT_EQ(row("1007")[0], "partial");
  EXPECT_EQ(row("1007")[2], "40");
}

TEST_F(StoreTest, ReportsNoRowForMissingId) {
  create_table();
  start_store();

  auto result = write(update("999999", "processing", 1, 1));

  EXPECT_FALSE(result.error);
  EXPECT_EQ(result.outcome, WriteOutcome::no_row);
}

TEST_F(StoreTest, MatchesTextBigintAndIntegerIdColumns) {
  for (const std::string id_type : {"text", "varchar(32)", "bigint", "integer", "numeric"}) {
    SCOPED_TRACE(id_type);
    table_ = smm::test::unique_name("store_ids");
    config_.table = table_;
    create_table(id_type);
    insert("2001", "pending", "0", "100");
    start_store();

    auto result = write(update("2001", "processing", 3, 97));

    EXPECT_FALSE(result.error) << result.error.message();
    EXPECT_EQ(result.outcome, WriteOutcome::updated);
    EXPECT_EQ(row("2001")[0], "processing");
    TearDown();
  }
}

TEST_F(StoreTest, MatchesBigintIdWrittenWithLeadingZeros) {
  create_table("bigint");
  insert("42", "pending", "0", "100");
  start_store();

  auto result = write(update("0042", "processing", 1, 99));

  EXPECT_EQ(result.outcome, WriteOutcome::updated);
  EXPECT_EQ(row("42")[0], "processing");
}

TEST_F(StoreTest, ReportsNoRowForIdBeyondColumnRange) {
  create_table("bigint");
  insert("3001", "pending", "0", "100");
  start_store();

  // Both in one batch: the id that cannot be a bigint must not fail the other.
  auto too_long = write_async(update("12345678901234567890", "processing", 1, 1));
  auto fits = write_async(update("3001", "processing", 1, 99));
  ASSERT_TRUE(run_until([&] { return too_long->has_value() && fits->has_value(); }));

  EXPECT_FALSE((*too_long)->error);
  EXPECT_EQ((*too_long)->outcome, WriteOutcome::no_row);
  EXPECT_FALSE((*fits)->error);
  EXPECT_EQ((*fits)->outcome, WriteOutcome::updated);
}

TEST_F(StoreTest, ReportsNoRowForIdBeyondIntegerRange) {
  create_table("integer");
  start_store();

  auto result = write(update("3000000000", "processing", 1, 1));

  EXPECT_FALSE(result.error);
  EXPECT_EQ(result.outcome, WriteOutcome::no_row);
}

TEST_F(StoreTest, WritesWithoutSyncedAtColumnWhenDisabled) {
  pg_->exec("CREATE TABLE " + table_ +
            " (provider_order_id text, status text, start_count bigint, remains bigint)");
  insert("4001", "pending", "0", "100");
  config_.synced_at_column = "";
  start_store();

  auto result = write(update("4001", "processing", 5, 95));

  EXPECT_EQ(result.outcome, WriteOutcome::updated);
  EXPECT_EQ(row("4001", "", "status, remains"), (std::vector<std::string>{"processing", "95"}));
}

TEST_F(StoreTest, QuotesTableAndColumnNames) {
  std::string table = table_ + " Order Rows";
  pg_->exec("CREATE TABLE \"" + table +
            "\" (\"Order Id\" text, \"Status\" text, \"start count\" int, \"Remains\" numeric,"
            " \"Synced\" timestamptz)");
  pg_->exec("INSERT INTO \"" + table + "\" VALUES ('5001', 'pending', 0, 100, NULL)");
  config_.table = table;
  config_.id_column = "Order Id";
  config_.status_column = "Status";
  config_.start_count_column = "start count";
  config_.remains_column = "Remains";
  config_.synced_at_column = "Synced";
  start_store();

  auto result = write(update("5001", "processing", 7, 93));

  EXPECT_EQ(result.outcome, WriteOutcome::updated) << errors_text();
  auto rows = pg_->query("SELECT \"Status\", \"start count\", \"Remains\", \"Synced\" IS NOT NULL FROM \"" +
                         table + "\"");
  EXPECT_EQ(rows.at(0), (std::vector<std::string>{"processing", "7", "93", "t"}));
}

TEST_F(StoreTest, AcceptsSchemaQualifiedTable) {
  std::string schema = table_ + "_Panel";
  pg_->exec("CREATE SCHEMA \"" + schema + "\"");
  pg_->exec("CREATE TABLE \"" + schema + "\".orders (provider_order_id bigint, status text," +
            " start_count bigint, remains bigint, provider_synced_at timestamptz)");
  pg_->exec("INSERT INTO \"" + schema + "\".orders VALUES (6001, 'pending', 0, 100, NULL)");
  config_.table = schema + ".orders";
  start_store();

  auto result = write(update("6001", "canceled", 0, 100));

  EXPECT_EQ(result.outcome, WriteOutcome::updated);
  EXPECT_EQ(row("6001", "\"" + schema + "\".orders")[0], "canceled");
}

TEST_F(StoreTest, TreatsInjectionLookingIdAsValue) {
  create_table();
  const std::string id = "7001'); DROP TABLE " + table_ + "; --";
  pg_->exec("INSERT INTO " + table_ + " (provider_order_id, status) VALUES ('7001''); DROP TABLE " +
            table_ + "; --', 'pending')");
  start_store();

  auto result = write(update(id, "processing\"}{,\\", 1, 1));

  EXPECT_EQ(result.outcome, WriteOutcome::updated);
  auto rows = pg_->query("SELECT status FROM " + table_);
  ASSERT_EQ(rows.size(), 1U);
  EXPECT_EQ(rows[0][0], "processing\"}{,\\");
}

TEST_F(StoreTest, AppliesLastOfDuplicateIdsInBatch) {
  create_table();
  insert("8001", "pending", "0", "100");
  start_store();

  auto first = write_async(update("8001", "processing", 1, 99));
  auto second = write_async(update("8001", "processing", 2, 98));
  ASSERT_TRUE(run_until([&] { return first->has_value() && second->has_value(); }));

  EXPECT_EQ((*first)->outcome, WriteOutcome::updated);
  EXPECT_EQ((*second)->outcome, WriteOutcome::updated);
  EXPECT_EQ(row("8001")[1], "2");
}

TEST_F(StoreTest, SendsThousandUpdatesAsOneStatement) {
  create_table("bigint");
  pg_->exec("INSERT INTO " + table_ + " (provider_order_id, status, start_count, remains)" +
            " SELECT g, 'pending', 0, 100 FROM generate_series(1, 1000) g");
  // A statement-level trigger counts UPDATE statements on the table.
  pg_->exec("CREATE SEQUENCE " + table_ + "_updates");
  pg_->exec("CREATE FUNCTION " + table_ + "_count() RETURNS trigger LANGUAGE plpgsql AS " +
            "$$ BEGIN PERFORM nextval('" + table_ + "_updates'); RETURN NULL; END $$");
  pg_->exec("CREATE TRIGGER count_updates AFTER UPDATE ON " + table_ +
            " FOR EACH STATEMENT EXECUTE FUNCTION " + table_ + "_count()");
  config_.batch_size = 1000;
  config_.batch_delay = 10s;
  start_store();

  std::vector<std::shared_ptr<std::optional<WriteResult>>> results;
  for (int i = 1; i <= 1000; ++i) {
    results.push_back(write_async(update(std::to_string(i), "processing", i, 100 - i % 100)));
  }
  ASSERT_TRUE(run_until([&] {
    for (const auto& result : results) {
      if (!result->has_value()) return false;
    }
    return true;
  }));

  for (const auto& result : results) EXPECT_EQ((*result)->outcome, WriteOutcome::updated);
  EXPECT_EQ(pg_->query("SELECT count(*) FROM " + table_ + " WHERE status = 'processing'")[0][0],
            "1000");
  EXPECT_EQ(pg_->query("SELECT last_value FROM " + table_ + "_updates")[0][0], "1");
}

TEST_F(StoreTest, FlushesSingleWriteAfterBatchDelay) {
  create_table();
  insert("9001", "pending", "0", "100");
  config_.batch_delay = 50ms;
  start_store();

  auto result = write_async(update("9001", "processing", 1, 99));
  EXPECT_EQ(store_->pending(), 1U) << "a single write waits for batch_delay";
  ASSERT_TRUE(run_until([&] { return result->has_value(); }));

  EXPECT_EQ((*result)->outcome, WriteOutcome::updated);
}

TEST_F(StoreTest, IdleFlushSendsWithoutBatchDelay) {
  create_table();
  insert("9101", "pending", "0", "100");
  config_.flush_when_idle = true;
  config_.batch_delay = 60s;
  start_store();

  auto result = write_async(update("9101", "processing", 1, 99));
  ASSERT_TRUE(run_until([&] { return result->has_value(); }, 5s))
      << "the write waited for batch_delay although no statement was running";
  EXPECT_EQ((*result)->outcome, WriteOutcome::updated);
}

TEST_F(StoreTest, IdleFlushBatchesWritesQueuedMeanwhile) {
  create_table();
  for (int i = 1; i <= 300; ++i) insert(std::to_string(9200 + i), "pending", "0", "100");
  pg_->exec("CREATE SEQUENCE " + table_ + "_updates");
  pg_->exec("CREATE FUNCTION " + table_ + "_count() RETURNS trigger LANGUAGE plpgsql AS " +
            "$$ BEGIN PERFORM nextval('" + table_ + "_updates'); RETURN NULL; END $$");
  pg_->exec("CREATE TRIGGER count_updates AFTER UPDATE ON " + table_ +
            " FOR EACH STATEMENT EXECUTE FUNCTION " + table_ + "_count()");
  config_.flush_when_idle = true;
  config_.batch_delay = 60s;
  start_store();

  // The first write goes out alone; the other 299 queue behind it and
  // leave together in the next statement.
  std::vector<std::shared_ptr<std::optional<WriteResult>>> results;
  for (int i = 1; i <= 300; ++i) {
    results.push_back(write_async(update(std::to_string(9200 + i), "processing", 1, 99)));
  }
  ASSERT_TRUE(run_until([&] {
    for (const auto& result : results) {
      if (!result->has_value()) return false;
    }
    return true;
  }, 5s));
  for (const auto& result : results) EXPECT_EQ((*result)->outcome, WriteOutcome::updated);
  EXPECT_EQ(pg_->query("SELECT last_value FROM " + table_ + "_updates")[0][0], "2");
}

TEST_F(StoreTest, ReportsSchemaErrorForMissingTable) {
  store_ = std::make_unique<Store>(io_, config_, finals_);
  store_->start([](bool) {}, [this](std::error_code error, const std::string& detail) {
    errors_.push_back({error, detail});
  });

  ASSERT_TRUE(run_until([this] { return !errors_.empty(); }));
  EXPECT_EQ(errors_[0].first, errc::pg_schema);
  EXPECT_NE(errors_[0].second.find("table " + table_ + " not found"), std::string::npos)
      << errors_[0].second;
  EXPECT_FALSE(store_->ready());
}

TEST_F(StoreTest, ReportsSchemaErrorForMissingColumn) {
  pg_->exec("CREATE TABLE " + table_ + " (provider_order_id text, status text, start_count int)");
  store_ = std::make_unique<Store>(io_, config_, finals_);
  store_->start([](bool) {}, [this](std::error_code error, const std::string& detail) {
    errors_.push_back({error, detail});
  });

  ASSERT_TRUE(run_until([this] { return !errors_.empty(); }));
  EXPECT_EQ(errors_[0].first, errc::pg_schema);
  EXPECT_NE(errors_[0].second.find("has no column remains"), std::string::npos)
      << errors_[0].second;
}

// The batch waits on a table lock while its backend is terminated; the
// callback sees the loss, and the store reconnects and prepares again.
TEST_F(StoreTest, RecoversAfterBackendTerminated) {
  create_table();
  insert("10001", "pending", "0", "100");
  start_store();
  SyncPg locker(smm::test::pg_conninfo());
  locker.exec("BEGIN; LOCK TABLE " + table_ + " IN ACCESS EXCLUSIVE MODE");

  auto blocked = write_async(update("10001", "processing", 1, 99));
  const std::string waiting_backend =
      "SELECT pid FROM pg_stat_activity WHERE application_name = 'smm-syncd'"
      " AND wait_event_type = 'Lock' AND query LIKE '%" + table_ + "%'";
  ASSERT_TRUE(run_until([&] { return !pg_->query(waiting_backend).empty(); }));
  pg_->exec("SELECT pg_terminate_backend(pid) FROM (" + waiting_backend + ") w");
  ASSERT_TRUE(run_until([&] { return blocked->has_value(); }));
  locker.exec("ROLLBACK");

  EXPECT_EQ((*blocked)->error, errc::pg_connection_lost) << (*blocked)->error.message();
  ASSERT_TRUE(run_until([&] { return ready_changes_.size() >= 3; }));
  EXPECT_EQ(ready_changes_, (std::vector<bool>{true, false, true}));
  auto later = write(update("10001", "processing", 2, 98));
  EXPECT_FALSE(later.error) << later.error.message();
  EXPECT_EQ(later.outcome, WriteOutcome::updated);
}

TEST_F(StoreTest, FailsBatchOnStatementTimeoutThenRecovers) {
  create_table();
  insert("11001", "pending", "0", "100");
  config_.statement_timeout = 300ms;
  start_store();
  SyncPg locker(smm::test::pg_conninfo());
  locker.exec("BEGIN; LOCK TABLE " + table_ + " IN ACCESS EXCLUSIVE MODE");

  auto blocked = write(update("11001", "processing", 1, 99));
  locker.exec("ROLLBACK");
  auto later = write(update("11001", "processing", 2, 98));

  EXPECT_EQ(blocked.error, errc::pg_timeout) << blocked.error.message();
  EXPECT_FALSE(later.error) << later.error.message();
  EXPECT_EQ(later.outcome, WriteOutcome::updated);
  EXPECT_EQ(row("11001")[1], "2");
}

// Sends SIGCONT to a stopped server backend when the test ends, pass or fail.
class ResumeOnExit {
 public:
  explicit ResumeOnExit(pid_t pid) : pid_(pid) {}
  ~ResumeOnExit() { ::kill(pid_, SIGCONT); }
  ResumeOnExit(const ResumeOnExit&) = delete;
  ResumeOnExit& operator=(const ResumeOnExit&) = delete;

 private:
  pid_t pid_;
};

// A backend that stops answering cannot enforce statement_timeout; the
// client-side deadline closes the connection and the store reconnects.
TEST_F(StoreTest, AbandonsConnectionAfterClientDeadline) {
  create_table();
  insert("14001", "pending", "0", "100");
  config_.statement_timeout = 200ms;
  config_.connect_timeout = 300ms;
  start_store();
  auto backends = pg_->query(
      "SELECT pid FROM pg_stat_activity WHERE application_name = 'smm-syncd' AND query LIKE '%" +
      table_ + "%'");
  ASSERT_EQ(backends.size(), 1U);
  auto backend = static_cast<pid_t>(std::stol(backends[0][0]));
  ASSERT_EQ(::kill(backend, SIGSTOP), 0);
  ResumeOnExit resume(backend);

  auto started = std::chrono::steady_clock::now();
  auto abandoned = write(update("14001", "processing", 1, 99));
  auto waited = std::chrono::steady_clock::now() - started;
  ::kill(backend, SIGCONT);

  EXPECT_EQ(abandoned.error, errc::pg_timeout) << abandoned.error.message();
  EXPECT_GE(waited, 500ms) << "the deadline is statement_timeout + connect_timeout";
  ASSERT_TRUE(run_until([&] { return ready_changes_.size() >= 3; }));
  auto later = write(update("14001", "processing", 2, 98));
  EXPECT_EQ(later.outcome, WriteOutcome::updated);
}

TEST_F(StoreTest, FailsBatchOnStatementErrorThenRecovers) {
  create_table();
  pg_->exec("ALTER TABLE " + table_ + " ADD CONSTRAINT short_status CHECK (length(status) < 12)");
  insert("12001", "pending", "0", "100");
  start_store();

  auto rejected = write(update("12001", "much-too-long-status", 1, 99));
  auto later = write(update("12001", "processing", 2, 98));

  EXPECT_EQ(rejected.error, errc::pg_statement_failed) << rejected.error.message();
  EXPECT_EQ(later.outcome, WriteOutcome::updated);
  EXPECT_EQ(ready_changes_, (std::vector<bool>{true}));
}

// Nothing listens on the port, so the store stays disconnected; writes wait
// in the queue up to max_queued_writes and the rest fail at once.
TEST_F(StoreTest, BoundsQueueWhileDisconnected) {
  boost::asio::ip::tcp::acceptor probe(io_, {boost::asio::ip::make_address("127.0.0.1"), 0});
  auto port = probe.local_endpoint().port();
  probe.close();
  config_.conninfo = "host=127.0.0.1 port=" + std::to_string(port) + " user=smm dbname=smm";
  config_.max_queued_writes = 2;
  store_ = std::make_unique<Store>(io_, config_, finals_);
  store_->start([](bool) {}, [](std::error_code, const std::string&) {});

  auto first = write_async(update("1", "processing", 1, 1));
  auto second = write_async(update("2", "processing", 1, 1));
  auto third = write_async(update("3", "processing", 1, 1));
  ASSERT_TRUE(run_until([&] { return third->has_value(); }));
  EXPECT_EQ((*third)->error, errc::pg_connection_lost);
  EXPECT_FALSE(first->has_value());
  EXPECT_EQ(store_->pending(), 2U);

  bool stopped = false;
  store_->stop([&] { stopped = true; });
  ASSERT_TRUE(run_until([&] { return stopped && first->has_value() && second->has_value(); }));
  EXPECT_EQ((*first)->error, errc::shutting_down);
  store_.reset();
}

TEST_F(StoreTest, StopFlushesQueuedWrites) {
  create_table();
  insert("13001", "pending", "0", "100");
  config_.batch_delay = 60s;
  start_store();

  auto queued = write_async(update("13001", "processing", 1, 99));
  bool stopped = false;
  store_->stop([&] {
    stopped = true;
    EXPECT_TRUE(queued->has_value()) << "stopped ran before the queued write finished";
  });
  ASSERT_TRUE(run_until([&] { return stopped; }));

  EXPECT_EQ((*queued)->outcome, WriteOutcome::updated);
  auto late = write_async(update("13001", "success", 1, 0));
  ASSERT_TRUE(run_until([&] { return late->has_value(); }));
  EXPECT_EQ((*late)->error, errc::shutting_down);
  store_.reset();
}

}  // namespace
