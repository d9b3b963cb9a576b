#include "store/detail/pg_connection.hpp"

#include <boost/asio/post.hpp>
#include <libpq-fe.h>

#include "common/error.hpp"

namespace smm::store::detail {
namespace {

// Server notices (e.g. from triggers on the panel's table) would otherwise
// go to stderr unformatted; the store has nothing to do with them.
void ignore_notice(void*, const char*) {}

// libpq messages end with a newline, may span lines and quote names with
// double quotes; logs want one line that fits in a quoted key=value field.
std::string one_line(const char* text) {
  std::string out = text == nullptr ? "" : text;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  for (char& c : out) {
    if (c == '\n' || c == '\t') c = ' ';
    if (c == '"') c = '\'';
  }
  return out;
}

std::error_code error_for_sqlstate(const char* sqlstate) {
  const std::string state = sqlstate == nullptr ? "" : sqlstate;
  // 57014 query_canceled is what statement_timeout raises; 55P03
  // lock_not_available is what lock_timeout raises.
  if (state == "57014" || state == "55P03") return errc::pg_timeout;
  // Class 08 is connection exceptions; 57P01..57P03 are server shutdown
  // and pg_terminate_backend.
  if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03") {
    return errc::pg_connection_lost;
  }
  return errc::pg_statement_failed;
}

// SQLSTATE and primary message only: the DETAIL part can quote a whole row
// of the panel's table, which does not belong in the daemon's logs.
std::string error_summary(const PGresult* result) {
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  if (primary == nullptr) return one_line(PQresultErrorMessage(result));
  return one_line(state) + " " + one_line(primary);
}

std::vector<const char*> c_strings(const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& param : params) values.push_back(param.c_str());
  return values;
}

}  // namespace

void ResultDeleter::operator()(pg_result* result) const { PQclear(result); }

PgConnection::PgConnection(boost::asio::io_context& io) : io_(io), deadline_(io) {}

PgConnection::~PgConnection() { close(); }

void PgConnection::connect(const std::string& conninfo, std::chrono::milliseconds timeout,
                           ConnectHandler done) {
  close();
  on_connect_ = std::move(done);

  // expand_dbname=1 makes "dbname" accept a whole conninfo string or URI;
  // an empty one leaves everything to the PG* environment.
  const char* const keywords[] = {"dbname", "fallback_application_name", nullptr};
  const char* const values[] = {conninfo.c_str(), "smm-syncd", nullptr};
  conn_ = PQconnectStartParams(keywords, values, 1);
  if (conn_ == nullptr || PQstatus(conn_) == CONNECTION_BAD) {
    std::string message = conn_ == nullptr ? "out of memory" : error_message();
    boost::asio::post(io_, [self = shared_from_this(), message] {
      self->fail(errc::pg_connect_failed, message);
    });
    return;
  }
  PQsetNoticeProcessor(conn_, ignore_notice, nullptr);

  arm_deadline(timeout, "connect timed out");
  // libpq's protocol: behave as if PQconnectPoll had returned WRITING.
  wait_connect(true);
}

void PgConnection::assign_socket() {
  ++epoch_;
  reading_ = false;
  writing_ = false;
  if (socket_) {
    socket_->release();
    socket_.reset();
  }

  int fd = conn_ == nullptr ? -1 : PQsocket(conn_);
  if (fd < 0) return;
  boost::system::error_code ec;
  socket_.emplace(io_);
  socket_->assign(fd, ec);
  if (ec) socket_.reset();
}

void PgConnection::wait_connect(bool for_write) {
  assign_socket();
  if (!socket_) {
    fail(errc::pg_connect_failed, "no socket to wait on: " + error_message());
    return;
  }
  auto direction = for_write ? boost::asio::posix::stream_descriptor::wait_write
                             : boost::asio::posix::stream_descriptor::wait_read;
  socket_->async_wait(direction, [self = shared_from_this(), epoch = epoch_](
                                     boost::system::error_code ec) {
    if (epoch != self->epoch_ || ec == boost::asio::error::operation_aborted) return;
    self->poll_connect();
  });
}

void PgConnection::poll_connect() {
  switch (PQconnectPoll(conn_)) {
    case PGRES_POLLING_OK: finish_connect(); return;
    case PGRES_POLLING_READING: wait_connect(false); return;
    case PGRES_POLLING_WRITING: wait_connect(true); return;
    default: fail(errc::pg_connect_failed, error_message()); return;
  }
}

void PgConnection::finish_connect() {
  if (PQsetnonblocking(conn_, 1) != 0) {
    fail(errc::pg_connect_failed, "cannot switch to non-blocking mode: " + error_message());
    return;
  }
  cancel_deadline();
  auto handler = std::move(on_connect_);
  on_connect_ = nullptr;
  // Watch the idle connection so a server that goes away is noticed at once.
  wait_readable();
  handler({}, "");
}

void PgConnection::arm_deadline(std::chrono::milliseconds timeout, const char* message) {
  deadline_.expires_after(timeout);
  deadline_.async_wait([self = shared_from_this(), seq = ++deadline_seq_,
                        message](boost::system::error_code ec) {
    // A cancelled deadline may already have been queued as expired; the
    // sequence number tells it apart from the current one.
    if (ec || seq != self->deadline_seq_) return;
    self->fail(errc::pg_timeout, message);
  });
}

void PgConnection::cancel_deadline() {
  ++deadline_seq_;
  deadline_.cancel();
}

void PgConnection::exec_params(const std::string& sql, const std::vector<std::string>& params,
                               std::chrono::milliseconds deadline, ResultHandler done) {
  int sent = 0;
  if (connected() && !busy_) {
    auto values = c_strings(params);
    sent = PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0);
  }
  begin_statement(sent, deadline, std::move(done));
}

void PgConnection::prepare(const std::string& name, const std::string& sql, int param_count,
                           std::chrono::milliseconds deadline, ResultHandler done) {
  int sent = 0;
  if (connected() && !busy_) {
    sent = PQsendPrepare(conn_, name.c_str(), sql.c_str(), param_count, nullptr);
  }
  begin_statement(sent, deadline, std::move(done));
}

void PgConnection::exec_prepared(const std::string& name, const std::vector<std::string>& params,
                                 std::chrono::milliseconds deadline, ResultHandler done) {
  int sent = 0;
  if (connected() && !busy_) {
    auto values = c_strings(params);
    sent = PQsendQueryPrepared(conn_, name.c_str(), static_cast<int>(values.size()),
                               values.data(), nullptr, nullptr, 0);
  }
  begin_statement(sent, deadline, std::move(done));
}

bool PgConnection::begin_statement(int sent, std::chrono::milliseconds deadline,
                                   ResultHandler done) {
  if (sent == 0) {
    // A send fails on a dead connection, or when a statement is running,
    // which the store never does; both leave nothing to wait for.
    std::error_code ec = connected() && !busy_ ? std::error_code(errc::pg_statement_failed)
                                               : std::error_code(errc::pg_connection_lost);
    std::string message = conn_ == nullptr ? "not connected" : error_message();
    boost::asio::post(io_, [done = std::move(done), ec, message] { done(ec, nullptr, message); });
    return false;
  }

  busy_ = true;
  on_result_ = std::move(done);
  if (deadline.count() > 0) arm_deadline(deadline, "no result before the client-side deadline");
  flush();
  if (connected()) wait_readable();
  return true;
}

void PgConnection::flush() {
  int pending = PQflush(conn_);
  if (pending < 0) {
    fail(errc::pg_connection_lost, error_message());
    return;
  }
  if (pending == 0 || writing_) return;

  writing_ = true;
  socket_->async_wait(boost::asio::posix::stream_descriptor::wait_write,
                      [self = shared_from_this(), epoch = epoch_](boost::system::error_code ec) {
                        if (epoch != self->epoch_) return;
                        self->writing_ = false;
                        if (ec == boost::asio::error::operation_aborted) return;
                        self->flush();
                      });
}

void PgConnection::wait_readable() {
  if (reading_ || !socket_) return;
  reading_ = true;
  socket_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [self = shared_from_this(), epoch = epoch_](boost::system::error_code ec) {
                        if (epoch != self->epoch_) return;
                        self->reading_ = false;
                        if (ec == boost::asio::error::operation_aborted) return;
                        self->on_readable();
                      });
}

void PgConnection::on_readable() {
  if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) == CONNECTION_BAD) {
    if (busy_) {
      // The error result (e.g. "terminating connection due to administrator
      // command") may already be buffered; report it if so.
      read_results();
      if (!connected()) return;
    }
    fail(errc::pg_connection_lost, error_message());
    return;
  }

  // Notifications are never listened for; free any that arrive.
  while (PGnotify* notify = PQnotifies(conn_)) PQfreemem(notify);

  if (busy_) {
    // libpq asks to retry a pending flush after reading: the server may have
    // stopped reading until its own output was consumed.
    if (writing_) flush();
    read_results();
  }
  if (connected()) wait_readable();
}

void PgConnection::read_results() {
  while (busy_ && conn_ != nullptr && PQisBusy(conn_) == 0) {
    PGresult* result = PQgetResult(conn_);
    if (result == nullptr) {
      finish_statement({}, "");
      return;
    }
    if (PQresultStatus(result) == PGRES_FATAL_ERROR && !error_result_) {
      error_result_.reset(result);
    } else {
      last_result_.reset(result);
    }
  }
}

void PgConnection::finish_statement(std::error_code ec, const std::string& message) {
  cancel_deadline();
  busy_ = false;
  std::string text = message;
  if (error_result_) {
    ec = error_for_sqlstate(PQresultErrorField(error_result_.get(), PG_DIAG_SQLSTATE));
    text = error_summary(error_result_.get());
  }
  if (PQstatus(conn_) == CONNECTION_BAD) ec = errc::pg_connection_lost;

  auto handler = std::move(on_result_);
  on_result_ = nullptr;
  PgResult result = ec ? nullptr : std::move(last_result_);
  last_result_.reset();
  error_result_.reset();
  if (ec == errc::pg_connection_lost) close();
  handler(ec, std::move(result), text);
}

void PgConnection::fail(std::error_code ec, const std::string& message) {
  auto connect_handler = std::move(on_connect_);
  auto result_handler = std::move(on_result_);
  on_connect_ = nullptr;
  on_result_ = nullptr;
  close();

  if (connect_handler) {
    connect_handler(ec, message);
  } else if (result_handler) {
    result_handler(ec, nullptr, message);
  } else if (on_loss_) {
    on_loss_(message);
  }
}

std::optional<std::string> PgConnection::quote_identifier(const std::string& name) const {
  if (conn_ == nullptr) return std::nullopt;
  char* quoted = PQescapeIdentifier(conn_, name.c_str(), name.size());
  if (quoted == nullptr) return std::nullopt;
  std::string out = quoted;
  PQfreemem(quoted);
  return out;
}

bool PgConnection::connected() const {
  return conn_ != nullptr && on_connect_ == nullptr && PQstatus(conn_) == CONNECTION_OK;
}

std::string PgConnection::describe() const {
  if (conn_ == nullptr) return "";
  auto text = [](const char* value) { return value == nullptr ? "" : value; };
  return std::string("host=") + text(PQhost(conn_)) + " port=" + text(PQport(conn_)) +
         " dbname=" + text(PQdb(conn_));
}

std::string PgConnection::error_message() const {
  return conn_ == nullptr ? "not connected" : one_line(PQerrorMessage(conn_));
}

void PgConnection::close() {
  ++epoch_;
  cancel_deadline();
  busy_ = false;
  reading_ = false;
  writing_ = false;
  if (socket_) {
    // The socket is libpq's: stop waiting on it, hand it back, let PQfinish
    // close it.
    socket_->release();
    socket_.reset();
  }
  if (conn_ != nullptr) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
  on_connect_ = nullptr;
  on_result_ = nullptr;
  last_result_.reset();
  error_result_.reset();
}

}  // namespace smm::store::detail
