#pragma once
// The daemon's operations surface, wired around the sync components: the
// health endpoint (/healthz, /readyz, /metrics), the event-loop monitor,
// the smm_syncd_* metrics, a periodic read of the queue counts, and the
// systemd notifications WATCHDOG=1 and STATUS=.
//
// Thread-safety: none; everything runs on the io_context's thread.

#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/config.hpp"
#include "health/loop_monitor.hpp"
#include "health/server.hpp"
#include "metrics/registry.hpp"
#include "queue/queue.hpp"
#include "store/store.hpp"
#include "sync/engine.hpp"

namespace smm::daemon {

class Telemetry {
 public:
  Telemetry(boost::asio::io_context& io, const config::Config& config, queue::Queue& queue,
            store::Store& store, std::shared_ptr<sync::Engine> engine);
  ~Telemetry();
  Telemetry(const Telemetry&) = delete;
  Telemetry& operator=(const Telemetry&) = delete;

  // Starts the loop monitor, the timers and the health endpoint. Throws
  // std::runtime_error when the endpoint cannot listen.
  void start();

  // From now on /readyz returns 503 with "daemon": "stopping".
  void set_stopping() { stopping_ = true; }

  // Stops the timers and closes the endpoint and its connections.
  void stop();

  // The provider request latency histogram, for the engine to feed.
  metrics::Histogram& provider_latency() { return *provider_latency_; }

 private:
  void register_metrics();
  void collect();
  void read_queue_stats();
  void on_queue_stats(std::error_code error, const queue::Stats& stats);
  void send_watchdog();
  void arm_progress();
  void log_progress();
  void send_status();
  std::vector<health::Check> readiness() const;
  std::uint64_t total_polls() const;

  boost::asio::io_context& io_;
  config::HealthConfig config_;
  queue::Queue& queue_;
  store::Store& store_;
  std::shared_ptr<sync::Engine> engine_;

  metrics::Registry registry_;
  metrics::Histogram* provider_latency_ = nullptr;
  metrics::Counter* stats_errors_ = nullptr;
  health::LoopMonitor loop_;
  health::Server server_;

  boost::asio::steady_timer stats_timer_;
  boost::asio::steady_timer status_timer_;
  boost::asio::steady_timer watchdog_timer_;
  boost::asio::steady_timer progress_timer_;
  std::chrono::milliseconds progress_interval_;
  std::uint64_t polls_at_last_progress_ = 0;
  std::uint64_t claims_at_last_progress_ = 0;
  std::chrono::microseconds watchdog_interval_{0};

  queue::Stats queue_stats_;
  bool stats_in_flight_ = false;
  bool stats_failing_ = false;
  std::uint64_t polls_at_last_status_ = 0;
  bool stopping_ = false;
  bool stopped_ = false;
  // Callbacks from the queue check this before touching the object.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace smm::daemon
