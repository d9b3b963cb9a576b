#pragma once
// Event-loop liveness: a timer that should fire every loop_check_interval,
// and the lag by which it fires late. A loop blocked by a long handler, or
// flooded with ready handlers, runs the timer late; that lateness beyond
// stall_threshold marks the loop stalled.
//
// A loop blocked outright sends no response at all, so /healthz then times
// out rather than returning 503. The watchdog ping, sent only while the
// loop is healthy, covers that case.
//
// Thread-safety: none; everything runs on the io_context's thread.

#include <chrono>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"

namespace smm::health {

using Clock = std::chrono::steady_clock;

// The decision part, with no timer: fed the time each check was due and
// the time it ran. Tested with made-up times.
class LagTracker {
 public:
  LagTracker(Clock::duration check_interval, Clock::duration stall_threshold, Clock::time_point start);

  void record_check(Clock::time_point due, Clock::time_point ran);

  // True while the last check ran less than stall_threshold late and the
  // next one is not overdue by stall_threshold either.
  bool healthy(Clock::time_point now) const;
  Clock::duration last_lag() const { return last_lag_; }
  Clock::duration max_lag() const { return max_lag_; }

 private:
  Clock::duration interval_;
  Clock::duration threshold_;
  Clock::time_point last_check_;
  Clock::duration last_lag_{0};
  Clock::duration max_lag_{0};
};

class LoopMonitor {
 public:
  LoopMonitor(boost::asio::io_context& io, const config::HealthConfig& config);
  ~LoopMonitor();
  LoopMonitor(const LoopMonitor&) = delete;
  LoopMonitor& operator=(const LoopMonitor&) = delete;

  void start();
  void stop();

  bool healthy() const;
  // Lateness of the last check, in seconds.
  double lag_seconds() const;
  // Largest lateness seen since start, in seconds.
  double max_lag_seconds() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace smm::health
