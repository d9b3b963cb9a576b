#include "health/loop_monitor.hpp"

#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "log/log.hpp"

namespace smm::health {
namespace {

double seconds(Clock::duration duration) { return std::chrono::duration<double>(duration).count(); }

}  // namespace

LagTracker::LagTracker(Clock::duration check_interval, Clock::duration stall_threshold, Clock::time_point start)
    : interval_(check_interval), threshold_(stall_threshold), last_check_(start) {}

void LagTracker::record_check(Clock::time_point due, Clock::time_point ran) {
  last_lag_ = ran > due ? ran - due : Clock::duration{0};
  if (last_lag_ > max_lag_) max_lag_ = last_lag_;
  last_check_ = ran;
}

bool LagTracker::healthy(Clock::time_point now) const {
  const bool overdue = now - last_check_ >= interval_ + threshold_;
  return last_lag_ < threshold_ && !overdue;
}

struct LoopMonitor::Impl : std::enable_shared_from_this<Impl> {
  Impl(boost::asio::io_context& io, const config::HealthConfig& config)
      : timer(io),
        interval(config.loop_check_interval),
        threshold(config.stall_threshold),
        tracker(interval, threshold, Clock::now()) {}

  void arm() {
    due = Clock::now() + interval;
    timer.expires_at(due);
    timer.async_wait([weak = weak_from_this()](boost::system::error_code error) {
      auto self = weak.lock();
      if (error || !self || self->stopped) return;
      self->on_check();
    });
  }

  void on_check() {
    const bool was_healthy = tracker.healthy(due);
    tracker.record_check(due, Clock::now());
    const bool is_healthy = tracker.healthy(Clock::now());
    // Logged on the change of state only, not on every late check.
    if (was_healthy && !is_healthy) {
      log::get("health")->warn("event_loop_stalled lag_ms={}",
                               std::chrono::duration_cast<std::chrono::milliseconds>(tracker.last_lag()).count());
    } else if (!was_healthy && is_healthy) {
      log::get("health")->info("event_loop_recovered");
    }
    arm();
  }

  boost::asio::steady_timer timer;
  Clock::duration interval;
  Clock::duration threshold;
  LagTracker tracker;
  Clock::time_point due;
  bool stopped = false;
};

LoopMonitor::LoopMonitor(boost::asio::io_context& io, const config::HealthConfig& config)
    : impl_(std::make_shared<Impl>(io, config)) {}

LoopMonitor::~LoopMonitor() { stop(); }

void LoopMonitor::start() {
  impl_->tracker = LagTracker(impl_->interval, impl_->threshold, Clock::now());
  impl_->arm();
}

void LoopMonitor::stop() {
  impl_->stopped = true;
  impl_->timer.cancel();
}

bool LoopMonitor::healthy() const { return impl_->tracker.healthy(Clock::now()); }
double LoopMonitor::lag_seconds() const { return seconds(impl_->tracker.last_lag()); }
double LoopMonitor::max_lag_seconds() const { return seconds(impl_->tracker.max_lag()); }

}  // namespace smm::health
