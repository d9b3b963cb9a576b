#pragma once
// The PostgreSQL writer: applies provider status to the panel's order rows.
//
// Updates are batched: write() queues one, and a batch is sent when it holds
// batch_size updates or batch_delay has passed since its first. One batch is
// one statement (UPDATE ... FROM unnest of arrays); each update's callback
// runs after that statement has committed, or with an error if it failed, so
// the caller keeps the id leased until its write is durable.
//
// Write rules: a row changes only when status, start_count or remains
// differ; a reported null leaves its column unchanged; a final status is
// never replaced by a non-final one. Table and column names are quoted as
// identifiers; every value is a bound parameter.
//
// Thread-safety: none; all calls and callbacks on the io_context thread. The
// connection is libpq non-blocking on the same loop and reconnects by itself
// with backoff; statements are prepared again after a reconnect.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"

namespace smm::store {

struct StatusUpdate {
  std::string id;                           // provider order id
  std::string status;                       // local status value
  std::optional<std::int64_t> start_count;  // nullopt = leave unchanged
  std::optional<std::int64_t> remains;      // nullopt = leave unchanged
};

enum class WriteOutcome {
  updated,          // the row changed
  unchanged,        // the row already held these values
  final_protected,  // the row is final and the update was not: left alone
  no_row,           // no row has this id
};

const char* to_string(WriteOutcome outcome);

class Store {
 public:
  using WriteCallback = std::function<void(std::error_code, WriteOutcome)>;

  Store(boost::asio::io_context& io, const config::PostgresConfig& config,
        std::vector<std::string> final_statuses);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Connects, checks the table and its columns, prepares the statement, and
  // keeps reconnecting after a loss. `on_state` runs on every change of
  // state with true once ready to write. A table or column that does not
  // exist is reported with errc::pg_schema through `on_error`.
  void start(std::function<void(bool ready)> on_state,
             std::function<void(std::error_code, const std::string&)> on_error);

  // Sends what is queued, then stops; pending callbacks run first.
  void stop(std::function<void()> stopped);
  bool ready() const;

  void write(StatusUpdate update, WriteCallback done);

  std::size_t pending() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace smm::store
