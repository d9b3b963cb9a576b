#include "store/store.hpp"

#include <charconv>
#include <deque>
#include <random>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "store/detail/backoff.hpp"
#include "store/detail/batch.hpp"
#include "store/detail/pg_connection.hpp"
#include "store/detail/update_statement.hpp"

namespace smm::store {

const char* to_string(WriteOutcome outcome) {
  switch (outcome) {
    case WriteOutcome::updated: return "updated";
    case WriteOutcome::unchanged: return "unchanged";
    case WriteOutcome::final_protected: return "final_protected";
    case WriteOutcome::no_row: return "no_row";
  }
  return "unknown";
}

namespace {

using Clock = std::chrono::steady_clock;
using Milliseconds = std::chrono::milliseconds;

constexpr const char* kStatementName = "smm_store_update";
constexpr int kStatementParams = 5;

}  // namespace

struct Store::Impl : std::enable_shared_from_this<Impl> {
  enum class State { idle, connecting, ready, waiting, stopped };

  struct Pending {
    StatusUpdate update;
    WriteCallback done;
    Clock::time_point queued_at;
  };

  Impl(boost::asio::io_context& io_context, const config::PostgresConfig& postgres,
       std::vector<std::string> finals)
      : io(io_context),
        config(postgres),
        final_statuses(std::move(finals)),
        batch_timer(io_context),
        retry_timer(io_context),
        random(std::random_device{}()) {}

  // --- connection life cycle ------------------------------------------------

  void connect() {
    state = State::connecting;
    conn = std::make_shared<detail::PgConnection>(io);
    conn->on_loss([weak = weak_from_this()](const std::string& message) {
      if (auto self = weak.lock()) self->on_lost(errc::pg_connection_lost, message);
    });
    conn->connect(config.conninfo, config.connect_timeout,
                  [weak = weak_from_this()](std::error_code ec, const std::string& message) {
                    auto self = weak.lock();
                    if (!self) return;
                    if (ec) return self->on_setup_failed(ec, message);
                    self->set_statement_timeout();
                  });
  }

  // The server cancels a statement after statement_timeout; the client
  // waits connect_timeout longer for that error to arrive before it gives
  // up on the connection.
  Milliseconds client_deadline() const {
    if (config.statement_timeout.count() <= 0) return Milliseconds(0);
    return config.statement_timeout + config.connect_timeout;
  }

  void set_statement_timeout() {
    std::string value = std::to_string(config.statement_timeout.count()) + "ms";
    conn->exec_params("SELECT set_config('statement_timeout', $1, false)", {value},
                      client_deadline(), step([](Impl& self, detail::PgResult) {
                        self.check_columns();
                      }));
  }

  void check_columns() {
    if (!quote_names()) return;
    std::string relation = shape.table;
    conn->exec_params(detail::kColumnsQuery, {relation}, client_deadline(),
                      step([](Impl& self, detail::PgResult result) {
                        self.on_columns(std::move(result));
                      }));
  }

  // Quotes every configured name with PQescapeIdentifier, which needs the
  // connection's encoding; that is why this happens after connecting.
  bool quote_names() {
    auto name = detail::split_table_name(config.table);
    std::optional<std::string> schema =
        name.schema.empty() ? std::optional<std::string>("") : conn->quote_identifier(name.schema);
    auto table = conn->quote_identifier(name.table);
    auto id = conn->quote_identifier(config.id_column);
    auto status = conn->quote_identifier(config.status_column);
    auto start_count = conn->quote_identifier(config.start_count_column);
    auto remains = conn->quote_identifier(config.remains_column);
    std::optional<std::string> synced_at =
        config.synced_at_column.empty() ? std::optional<std::string>("")
                                        : conn->quote_identifier(config.synced_at_column);
    if (!schema || !table || !id || !status || !start_count || !remains || !synced_at) {
      on_setup_failed(errc::pg_connect_failed, "cannot quote the configured table or column names");
      return false;
    }

    shape.table = schema->empty() ? *table : *schema + "." + *table;
    shape.id_column = *id;
    shape.status_column = *status;
    shape.start_count_column = *start_count;
    shape.remains_column = *remains;
    shape.synced_at_column = *synced_at;
    return true;
  }

  void on_columns(detail::PgResult result) {
    std::vector<detail::ColumnInfo> columns;
    for (int row = 0; row < PQntuples(result.get()); ++row) {
      columns.push_back({PQgetvalue(result.get(), row, 0), PQgetvalue(result.get(), row, 1),
                         PQgetvalue(result.get(), row, 2)});
    }
    if (auto problem = detail::resolve_columns(columns, config, shape)) {
      return on_schema_failed(*problem);
    }

    conn->prepare(kStatementName, detail::build_update_sql(shape), kStatementParams,
                  client_deadline(),
                  [weak = weak_from_this()](std::error_code ec, detail::PgResult,
                                            const std::string& message) {
                    auto self = weak.lock();
                    if (!self) return;
                    // A statement that does not prepare means the table does
                    // not fit it, e.g. a status type that text cannot be cast to.
                    if (ec == errc::pg_statement_failed) return self->on_schema_failed(message);
                    if (ec) return self->on_setup_failed(ec, message);
                    self->on_ready();
                  });
  }

  // Wraps one set-up step: errors go to on_setup_failed, results to `next`.
  template <typename Next>
  detail::PgConnection::ResultHandler step(Next next) {
    return [weak = weak_from_this(), next](std::error_code ec, detail::PgResult result,
                                           const std::string& message) {
      auto self = weak.lock();
      if (!self) return;
      if (ec) return self->on_setup_failed(ec, message);
      next(*self, std::move(result));
    };
  }

  void on_ready() {
    state = State::ready;
    failed_attempts = 0;
    outage_logged = false;
    spdlog::info("postgres_connected {} table=\"{}\"", conn->describe(), config.table);
    if (on_state) on_state(true);
    maybe_send();
  }

  void on_setup_failed(std::error_code ec, const std::string& message) {
    conn->close();
    if (stopping) return finish_stop();

    auto delay = next_delay();
    // The first failure of an outage is a warning; repeats while it lasts
    // are debug, so an outage is not logged once per attempt.
    auto level = outage_logged ? spdlog::level::debug : spdlog::level::warn;
    outage_logged = true;
    spdlog::log(level, "postgres_connect_failed error=\"{}\" detail=\"{}\" retry_in_ms={}",
                ec.message(), message, delay.count());
    schedule_reconnect(delay);
  }

  void on_schema_failed(const std::string& message) {
    conn->close();
    if (stopping) return finish_stop();

    // A missing table or column will not appear by itself soon, so retry at
    // the slowest reconnect pace.
    spdlog::error("postgres_schema_invalid detail=\"{}\" retry_in_ms={}", message,
                  config.reconnect_max.count());
    schedule_reconnect(config.reconnect_max);
    if (on_error) on_error(errc::pg_schema, message);
  }

  // The connection ended while ready: idle loss, or the end of a batch.
  void on_lost(std::error_code ec, const std::string& message) {
    if (conn) conn->close();
    bool was_ready = state == State::ready;
    state = State::waiting;
    if (stopping) return finish_stop();

    auto delay = next_delay();
    spdlog::warn("postgres_disconnected error=\"{}\" detail=\"{}\" retry_in_ms={}", ec.message(),
                 message, delay.count());
    outage_logged = true;
    schedule_reconnect(delay);
    if (was_ready && on_state) on_state(false);
  }

  Milliseconds next_delay() {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    return detail::reconnect_delay(failed_attempts++, config.reconnect_min, config.reconnect_max,
                                   unit(random));
  }

  void schedule_reconnect(Milliseconds delay) {
    state = State::waiting;
    retry_timer.expires_after(delay);
    retry_timer.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->stopping || self->state != State::waiting) return;
      self->connect();
    });
  }

  // --- batching -------------------------------------------------------------

  void write(StatusUpdate update, WriteCallback done) {
    if (stopping || state == State::stopped) return reject(std::move(done), errc::shutting_down);
    if (state != State::ready && queue.size() >= static_cast<std::size_t>(config.max_queued_writes)) {
      return reject(std::move(done), errc::pg_connection_lost);
    }
    queue.push_back({std::move(update), std::move(done), Clock::now()});
    maybe_send();
  }

  // Callbacks never run inside write(), so a caller is never re-entered.
  void reject(WriteCallback done, std::error_code ec) {
    boost::asio::post(io, [done = std::move(done), ec] { done(ec, WriteOutcome::unchanged); });
  }

  void maybe_send() {
    if (state != State::ready || !in_flight.empty() || queue.empty()) return;

    auto due = queue.front().queued_at + config.batch_delay;
    bool full = queue.size() >= static_cast<std::size_t>(config.batch_size);
    bool wait = !full && !stopping && !config.flush_when_idle && Clock::now() < due;
    if (wait) return arm_batch_timer(due);
    send_batch();
  }

  void arm_batch_timer(Clock::time_point due) {
    if (batch_timer_armed && batch_timer.expiry() == due) return;
    batch_timer_armed = true;
    batch_timer.expires_at(due);
    batch_timer.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->batch_timer_armed = false;
      self->maybe_send();
    });
  }

  void send_batch() {
    std::size_t count = std::min(queue.size(), static_cast<std::size_t>(config.batch_size));
    for (std::size_t i = 0; i < count; ++i) {
      in_flight.push_back(std::move(queue.front()));
      queue.pop_front();
    }
    std::vector<const StatusUpdate*> updates;
    for (const auto& pending : in_flight) updates.push_back(&pending.update);

    auto batch = detail::build_batch(updates, shape.id_kind, final_statuses);
    auto handler = [weak = weak_from_this(), positions = batch.position, rows = batch.rows](
                       std::error_code ec, detail::PgResult result, const std::string& message) {
      if (auto self = weak.lock()) self->on_batch_done(ec, std::move(result), positions, rows, message);
    };

    if (batch.rows == 0) {
      // Every id was classified no_row locally, so nothing is sent.
      boost::asio::post(io, [handler] { handler({}, nullptr, ""); });
      return;
    }
    conn->exec_prepared(kStatementName, batch.params, client_deadline(), handler);
  }

  void on_batch_done(std::error_code ec, detail::PgResult result,
                     const std::vector<std::size_t>& positions, std::size_t rows,
                     const std::string& message) {
    std::vector<Pending> done = std::move(in_flight);
    in_flight.clear();

    if (ec && conn && !conn->connected()) {
      on_lost(ec, message);
    } else if (ec) {
      spdlog::warn("postgres_batch_failed error=\"{}\" detail=\"{}\" updates={}", ec.message(),
                   message, done.size());
    }

    auto outcomes = ec ? std::vector<std::optional<WriteOutcome>>() : read_outcomes(result, rows);
    for (std::size_t i = 0; i < done.size(); ++i) {
      deliver(done[i], ec, positions[i], outcomes);
    }

    maybe_send();
    if (stopping && in_flight.empty() && (queue.empty() || state != State::ready)) finish_stop();
  }

  // Result rows by position (1-based n in the statement, 0-based here). A
  // row the statement did not return stays nullopt.
  static std::vector<std::optional<WriteOutcome>> read_outcomes(const detail::PgResult& result,
                                                                std::size_t rows) {
    std::vector<std::optional<WriteOutcome>> outcomes(rows);
    if (!result) return outcomes;
    for (int row = 0; row < PQntuples(result.get()); ++row) {
      std::string_view n_text = PQgetvalue(result.get(), row, 0);
      std::size_t n = 0;
      auto parsed = std::from_chars(n_text.data(), n_text.data() + n_text.size(), n);
      if (parsed.ec != std::errc() || n == 0 || n > rows) continue;
      outcomes[n - 1] = detail::parse_outcome(PQgetvalue(result.get(), row, 1));
    }
    return outcomes;
  }

  static void deliver(Pending& pending, std::error_code ec, std::size_t position,
                      const std::vector<std::optional<WriteOutcome>>& outcomes) {
    if (position == 0) return pending.done({}, WriteOutcome::no_row);
    if (ec) return pending.done(ec, WriteOutcome::unchanged);

    const auto& outcome = outcomes[position - 1];
    if (!outcome) return pending.done(errc::pg_statement_failed, WriteOutcome::unchanged);
    pending.done({}, *outcome);
  }

  // --- stopping -------------------------------------------------------------

  void stop(std::function<void()> stopped) {
    if (state == State::stopped) {
      boost::asio::post(io, std::move(stopped));
      return;
    }
    stopping = true;
    on_stopped = std::move(stopped);
    if (state != State::ready) return finish_stop();
    maybe_send();
    if (in_flight.empty() && queue.empty()) finish_stop();
  }

  void finish_stop() {
    if (state == State::stopped) return;
    state = State::stopped;
    shutdown();
    spdlog::info("postgres_stopped");

    std::deque<Pending> left = std::move(queue);
    queue.clear();
    for (auto& pending : left) reject(std::move(pending.done), errc::shutting_down);
    if (on_stopped) boost::asio::post(io, std::move(on_stopped));
  }

  void shutdown() {
    state = State::stopped;
    batch_timer.cancel();
    retry_timer.cancel();
    if (conn) conn->close();
  }

  boost::asio::io_context& io;
  config::PostgresConfig config;
  std::vector<std::string> final_statuses;
  std::shared_ptr<detail::PgConnection> conn;
  boost::asio::steady_timer batch_timer;
  bool batch_timer_armed = false;
  boost::asio::steady_timer retry_timer;
  std::mt19937 random;

  State state = State::idle;
  bool stopping = false;
  int failed_attempts = 0;
  bool outage_logged = false;
  detail::TableShape shape;
  std::deque<Pending> queue;
  std::vector<Pending> in_flight;

  std::function<void(bool)> on_state;
  std::function<void(std::error_code, const std::string&)> on_error;
  std::function<void()> on_stopped;
};

Store::Store(boost::asio::io_context& io, const config::PostgresConfig& config,
             std::vector<std::string> final_statuses)
    : impl_(std::make_shared<Impl>(io, config, std::move(final_statuses))) {}

Store::~Store() { impl_->shutdown(); }

void Store::start(std::function<void(bool ready)> on_state,
                  std::function<void(std::error_code, const std::string&)> on_error) {
  if (impl_->state != Impl::State::idle) return;
  impl_->on_state = std::move(on_state);
  impl_->on_error = std::move(on_error);
  impl_->connect();
}

void Store::stop(std::function<void()> stopped) { impl_->stop(std::move(stopped)); }

bool Store::ready() const { return impl_->state == Impl::State::ready && !impl_->stopping; }

void Store::write(StatusUpdate update, WriteCallback done) {
  impl_->write(std::move(update), std::move(done));
}

std::size_t Store::pending() const { return impl_->queue.size() + impl_->in_flight.size(); }

}  // namespace smm::store
