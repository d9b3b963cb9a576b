#include "telemetry.hpp"

#include <systemd/sd-daemon.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "log/log.hpp"

namespace smm::daemon {
namespace {

std::shared_ptr<spdlog::logger> logger() { return log::get("daemon"); }

const char* up_or_down(bool up) { return up ? "up" : "down"; }

}  // namespace

Telemetry::Telemetry(boost::asio::io_context& io, const config::Config& config, queue::Queue& queue,
                     store::Store& store, std::shared_ptr<sync::Engine> engine)
    : io_(io),
      config_(config.health),
      queue_(queue),
      store_(store),
      engine_(std::move(engine)),
      loop_(io, config.health),
      server_(io, config.health,
              health::Sources{
                  [this] { return health::LoopState{loop_.healthy(), loop_.lag_seconds()}; },
                  [this] { return readiness(); },
                  [this] { return registry_.render(); },
              }),
      stats_timer_(io),
      status_timer_(io),
      watchdog_timer_(io),
      progress_timer_(io),
      progress_interval_(config.log.progress_interval) {
  register_metrics();
}

Telemetry::~Telemetry() {
  *alive_ = false;
  stop();
}

void Telemetry::start() {
  loop_.start();
  server_.start();
  read_queue_stats();

  status_timer_.expires_after(config_.status_interval);
  status_timer_.async_wait([this](boost::system::error_code error) {
    if (!error && !stopped_) send_status();
  });

  if (progress_interval_.count() > 0) arm_progress();

  // systemd sets WATCHDOG_USEC when the unit has WatchdogSec=; pinging at
  // half the interval leaves room for one late ping.
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    watchdog_interval_ = std::chrono::microseconds(usec / 2);
    logger()->info("watchdog_enabled interval_ms={}", usec / 1000);
    send_watchdog();
  }
}

void Telemetry::stop() {
  if (stopped_) return;
  stopped_ = true;
  stats_timer_.cancel();
  status_timer_.cancel();
  watchdog_timer_.cancel();
  progress_timer_.cancel();
  server_.stop();
  loop_.stop();
}

std::vector<health::Check> Telemetry::readiness() const {
  const bool circuit_open = engine_->provider_circuit_open();
  return {
      {"redis", queue_.connected(), up_or_down(queue_.connected())},
      {"postgres", store_.ready(), up_or_down(store_.ready())},
      {"provider", !circuit_open, circuit_open ? "circuit_open" : "up"},
      {"daemon", !stopping_, stopping_ ? "stopping" : "running"},
  };
}

std::uint64_t Telemetry::total_polls() const {
  std::uint64_t total = 0;
  for (auto count : engine_->counters().polls) total += count;
  return total;
}

// Sends WATCHDOG=1 only while the loop keeps time, so a stalled loop gets
// the unit restarted even though this timer itself may still fire.
void Telemetry::send_watchdog() {
  if (loop_.healthy()) sd_notify(0, "WATCHDOG=1");
  watchdog_timer_.expires_after(watchdog_interval_);
  watchdog_timer_.async_wait([this](boost::system::error_code error) {
    if (!error && !stopped_) send_watchdog();
  });
}

void Telemetry::send_status() {
  const std::uint64_t polls = total_polls();
  const double interval_s = std::chrono::duration<double>(config_.status_interval).count();
  const double rate = static_cast<double>(polls - polls_at_last_status_) / interval_s;
  polls_at_last_status_ = polls;

  const auto& counters = engine_->counters();
  const std::string line = fmt::format(
      "STATUS=in_flight={} due={} oldest_due_s={:.0f} polls_per_s={:.1f} polls={} final={} dead={} "
      "circuit={} redis={} postgres={}",
      engine_->active(), queue_stats_.due_now, queue_stats_.oldest_due_age_seconds, rate, polls,
      counters.completed_final, counters.dead_lettered, engine_->provider_circuit_open() ? "open" : "closed",
      up_or_down(queue_.connected()), up_or_down(store_.ready()));
  sd_notify(0, line.c_str());

  status_timer_.expires_after(config_.status_interval);
  status_timer_.async_wait([this](boost::system::error_code error) {
    if (!error && !stopped_) send_status();
  });
}

void Telemetry::arm_progress() {
  progress_timer_.expires_after(progress_interval_);
  progress_timer_.async_wait([this](boost::system::error_code error) {
    if (error || stopped_) return;
    log_progress();
    arm_progress();
  });
}

// One line per interval with the running totals, skipped while nothing
// moves, so an idle daemon does not fill the journal.
void Telemetry::log_progress() {
  const std::uint64_t polls = total_polls();
  const auto& counters = engine_->counters();
  if (polls == polls_at_last_progress_ && counters.claimed == claims_at_last_progress_) return;

  const double interval_s = std::chrono::duration<double>(progress_interval_).count();
  const double rate = static_cast<double>(polls - polls_at_last_progress_) / interval_s;
  polls_at_last_progress_ = polls;
  claims_at_last_progress_ = counters.claimed;
  logger()->info(
      "progress polls={} polls_per_s={:.1f} final={} rescheduled={} retries={} dead={} in_flight={} "
      "due={} oldest_due_s={:.0f} circuit={}",
      polls, rate, counters.completed_final, counters.rescheduled, counters.retries,
      counters.dead_lettered, engine_->active(), queue_stats_.due_now,
      queue_stats_.oldest_due_age_seconds, engine_->provider_circuit_open() ? "open" : "closed");
}

void Telemetry::read_queue_stats() {
  if (queue_.connected() && !stats_in_flight_) {
    stats_in_flight_ = true;
    queue_.stats([this, alive = std::weak_ptr<bool>(alive_)](std::error_code error, queue::Stats stats) {
      auto still_alive = alive.lock();
      if (!still_alive || !*still_alive) return;
      on_queue_stats(error, stats);
    });
  }
  stats_timer_.expires_after(config_.stats_interval);
  stats_timer_.async_wait([this](boost::system::error_code error) {
    if (!error && !stopped_) read_queue_stats();
  });
}

void Telemetry::on_queue_stats(std::error_code error, const queue::Stats& stats) {
  stats_in_flight_ = false;
  if (error) {
    stats_errors_->increment();
    // The gauges keep their last values; logged once until a read succeeds.
    if (!stats_failing_) logger()->warn("queue_stats_failed error=\"{}\"", error.message());
    stats_failing_ = true;
    return;
  }
  if (stats_failing_) logger()->info("queue_stats_recovered");
  stats_failing_ = false;
  queue_stats_ = stats;
}

}  // namespace smm::daemon
