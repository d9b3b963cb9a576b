#pragma once
// One libpq connection driven by an Asio event loop, never blocking it:
// PQconnectStart/PQconnectPoll to connect, non-blocking sends flushed on
// write readiness, results read on read readiness.
//
// The socket belongs to libpq. A stream_descriptor only waits on it and
// releases it before PQfinish; during connect libpq may swap sockets, so
// the descriptor is assigned again before every wait there.
//
// One statement at a time. Every callback runs on the io_context thread.
// close() drops the callback of a statement still running without calling
// it; any other end of the connection (lost, deadline passed) calls it.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

struct pg_conn;
struct pg_result;

namespace smm::store::detail {

struct ResultDeleter {
  void operator()(pg_result* result) const;
};
using PgResult = std::unique_ptr<pg_result, ResultDeleter>;

class PgConnection : public std::enable_shared_from_this<PgConnection> {
 public:
  using ConnectHandler = std::function<void(std::error_code, const std::string& message)>;
  // `result` is the statement's last result; null when ec is set.
  using ResultHandler =
      std::function<void(std::error_code, PgResult result, const std::string& message)>;
  using LossHandler = std::function<void(const std::string& message)>;

  explicit PgConnection(boost::asio::io_context& io);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Connects to `conninfo` (key=value or URI; empty means the PG*
  // environment). Fails with pg_connect_failed, or pg_timeout after `timeout`.
  void connect(const std::string& conninfo, std::chrono::milliseconds timeout,
               ConnectHandler done);

  // Runs when the server closes an idle connection (no statement running).
  void on_loss(LossHandler handler) { on_loss_ = std::move(handler); }

  // Sends one statement with text parameters. On `deadline` (zero: none) the
  // connection is closed and `done` gets pg_timeout. SQL errors give
  // pg_statement_failed (pg_timeout for a cancelled statement) and leave the
  // connection usable; a lost connection gives pg_connection_lost.
  void exec_params(const std::string& sql, const std::vector<std::string>& params,
                   std::chrono::milliseconds deadline, ResultHandler done);
  void prepare(const std::string& name, const std::string& sql, int param_count,
               std::chrono::milliseconds deadline, ResultHandler done);
  void exec_prepared(const std::string& name, const std::vector<std::string>& params,
                     std::chrono::milliseconds deadline, ResultHandler done);

  // Quotes an identifier with PQescapeIdentifier; nullopt if that fails.
  std::optional<std::string> quote_identifier(const std::string& name) const;

  bool connected() const;
  // host, port and dbname for logs; never the password.
  std::string describe() const;
  void close();

 private:
  void assign_socket();
  void wait_connect(bool for_write);
  void poll_connect();
  void finish_connect();
  void arm_deadline(std::chrono::milliseconds timeout, const char* message);
  void cancel_deadline();

  bool begin_statement(int sent, std::chrono::milliseconds deadline, ResultHandler done);
  void flush();
  void wait_readable();
  void on_readable();
  void read_results();
  void finish_statement(std::error_code ec, const std::string& message);
  void fail(std::error_code ec, const std::string& message);
  std::string error_message() const;

  boost::asio::io_context& io_;
  pg_conn* conn_ = nullptr;
  std::optional<boost::asio::posix::stream_descriptor> socket_;
  boost::asio::steady_timer deadline_;
  // Bumped whenever the socket is assigned or closed, so waits that were
  // already queued for an older socket are ignored.
  unsigned epoch_ = 0;
  unsigned deadline_seq_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool busy_ = false;

  ConnectHandler on_connect_;
  ResultHandler on_result_;
  LossHandler on_loss_;
  PgResult last_result_;
  PgResult error_result_;
};

}  // namespace smm::store::detail
