// PostgreSQL restarted in the middle of a run, and the daemon's UPDATE
// failing for a while: raised by a trigger, or cancelled by the daemon's
// statement_timeout behind a table lock.

#include <string>

#include "fault_case.hpp"

namespace smm::faults {
namespace {

TEST_F(FaultCase, PostgresRestartedMidRun) {
  PrivatePostgres server(dir_.file("postgres"));
  use_postgres(server.conninfo());
  create_table();
  start_provider();
  write_config();
  add_orders(14000001, 3000);
  start_daemon("daemon.log");

  ASSERT_TRUE(wait_writes(3000, 120s)) << daemon_logs();
  server.stop("immediate");  // a crash: recovery replays the WAL
  server.start();
  reconnect_postgres();
  expect_nothing_lost("after the PostgreSQL crash");

  ASSERT_TRUE(wait_writes(6000, 120s)) << daemon_logs();
  server.stop("fast");
  hold_fault(5s);
  server.start();
  reconnect_postgres();
  expect_nothing_lost("after the PostgreSQL restart");

  finish("postgres_restart", 180s, "restarts=2 down_s=5");
  EXPECT_TRUE(daemon(0).running()) << "the daemon exited instead of reconnecting";
}

TEST_F(FaultCase, PostgresStatementFailsForAWhile) {
  create_table();
  // While the flag is on, every UPDATE of the table raises; the sequence
  // counts the failed statements, because it does not roll back.
  pg().exec("CREATE TABLE " + table_ + "_fault (failing boolean NOT NULL); INSERT INTO " + table_ +
            "_fault VALUES (false); CREATE SEQUENCE " + table_ + "_fault_hits");
  pg().exec("CREATE FUNCTION " + table_ + "_fault_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF (SELECT failing FROM " +
            table_ + "_fault) THEN PERFORM nextval('" + table_ +
            "_fault_hits'); RAISE EXCEPTION 'fault suite: update refused'; END IF; RETURN NEW; END $$");
  pg().exec("CREATE TRIGGER " + table_ + "_fault BEFORE UPDATE ON " + table_ + " FOR EACH ROW EXECUTE FUNCTION " +
            table_ + "_fault_row()");
  start_provider();
  write_config();
  add_orders(15000001, 2000);
  start_daemon("daemon.log");

  ASSERT_TRUE(wait_writes(1500, 120s)) << daemon_logs();
  pg().exec("UPDATE " + table_ + "_fault SET failing = true");
  hold_fault(5s);
  pg().exec("UPDATE " + table_ + "_fault SET failing = false");
  auto hits = pg().query("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM " + table_ + "_fault_hits");
  long long failed_statements = std::stoll(hits[0][0]);
  EXPECT_GT(failed_statements, 0) << "no statement failed; the fault did not happen";
  expect_nothing_lost("after the failing statements");

  finish("postgres_statement_error", 180s, "failed_statements=" + std::to_string(failed_statements));
}

TEST_F(FaultCase, PostgresLockTimeout) {
  create_table();
  start_provider();
  write_config({{"postgres.statement_timeout", "\"1s\""}});
  add_orders(16000001, 2000);
  start_daemon("daemon.log");

  ASSERT_TRUE(wait_writes(1500, 120s)) << daemon_logs();
  // Held for 4 times the daemon's statement_timeout, so its UPDATEs are
  // cancelled while they wait for the lock.
  test::SyncPg locker(pg_conninfo_);
  locker.exec("BEGIN");
  locker.exec("LOCK TABLE " + table_ + " IN ACCESS EXCLUSIVE MODE");
  hold_fault(4s);
  locker.exec("COMMIT");
  std::size_t failed_batches = count_in_logs("postgres_batch_failed");
  EXPECT_GT(failed_batches, 0u) << "no UPDATE was cancelled; the fault did not happen\n" << daemon_logs();
  expect_nothing_lost("after the lock");

  finish("postgres_lock_timeout", 180s, "lock_s=4 statement_timeout_s=1 failed_batches=" + std::to_string(failed_batches));
}

}  // namespace
}  // namespace smm::faults
