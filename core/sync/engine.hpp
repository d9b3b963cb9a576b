#pragma once
// The sync loop. It drains the inbox into the schedule and claims due ids
// while there is capacity. It polls the provider for each under the
// cluster-wide rate limit, writes the result to PostgreSQL, and only then
// completes the id in Redis (reschedule, retry, done or dead). An id stays leased until its
// write has committed, so a crash at any point loses nothing: the lease
// ends and the id is polled again.
//
// Pacing: send times are reserved in Redis (RATE_ACQUIRE, a GCRA shared by
// every instance) and each request leaves at its reserved time. While Redis
// is unreachable a local GCRA at provider.local_rate_share of the rate takes
// over. Throttling responses pause or slow every instance through Redis.
// Account rejections open a circuit shared through Redis: polling stops
// everywhere until one instance's probe is accepted.
//
// Thread-safety: none; everything runs on the io_context's thread.

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/config.hpp"
#include "limiter/circuit.hpp"
#include "limiter/gcra.hpp"
#include "limiter/rate_factor.hpp"
#include "provider/client.hpp"
#include "queue/queue.hpp"
#include "store/store.hpp"
#include "sync/decision.hpp"

namespace smm::sync {

struct Counters {
  std::array<std::uint64_t, kPollOutcomeCount> polls{};  // by PollOutcome
  std::uint64_t writes_updated = 0;
  std::uint64_t writes_unchanged = 0;
  std::uint64_t writes_final_protected = 0;
  std::uint64_t writes_no_row = 0;
  std::uint64_t write_errors = 0;
  std::uint64_t claimed = 0;
  std::uint64_t completed_final = 0;
  std::uint64_t rescheduled = 0;
  std::uint64_t retries = 0;
  std::uint64_t dead_lettered = 0;
  std::uint64_t drained_ids = 0;
  std::uint64_t drained_invalid = 0;
  std::uint64_t rate_limit_waits = 0;
  std::uint64_t released = 0;
  std::uint64_t ack_failures = 0;
  std::uint64_t rate_slots_granted = 0;   // send times reserved (shared or local)
  std::uint64_t rate_slots_unused = 0;    // reserved but not used (pause, circuit, no work)
  std::uint64_t throttle_pauses = 0;      // Retry-After pauses this instance reported
  std::uint64_t rate_cuts = 0;            // shared rate cuts this instance made (429 without Retry-After)
  std::uint64_t rate_local_fallbacks = 0; // switches to the local limit (Redis unreachable)
  std::uint64_t circuit_opened = 0;       // times this instance opened or saw open the circuit
  std::uint64_t circuit_probes = 0;       // probes this instance sent
  std::uint64_t circuit_handed_back = 0;  // claims handed back because of the circuit
  double rate_factor = 1.0;               // gauge: shared backoff factor, 1 = full rate
  bool rate_limit_local = false;          // gauge: pacing by the local fallback
};

class Engine : public std::enable_shared_from_this<Engine> {
 public:
  Engine(boost::asio::io_context& io, const config::Config& config, queue::Queue& queue,
         provider::Client& client, store::Store& store);

  // Starts draining and claiming. Call after the queue has been started;
  // on_queue_state() must be fed the queue's connection changes.
  void start();
  void on_queue_state(bool connected);

  // Stops claiming, lets in-flight polls finish within the shutdown grace,
  // hands the rest back, then calls `stopped` once.
  void stop(std::function<void()> stopped);

  const Counters& counters() const { return counters_; }
  // True while account-level rejections have stopped polling (readiness
  // reports the provider as down).
  bool provider_circuit_open() const { return circuit_.is_open(); }
  std::size_t active() const { return active_; }

  // Called with the duration of every provider request that got an HTTP
  // response (for the latency histogram).
  void set_latency_observer(std::function<void(std::chrono::microseconds)> observer) {
    latency_observer_ = std::move(observer);
  }

 private:
  void drain_loop();
  void pump();
  void arm_wake(std::optional<std::int64_t> next_due_ms);
  void start_poll(queue::Claim claim);
  void send_waiting();
  void on_rate_grant(std::size_t wanted, std::error_code error, const queue::RateGrant& grant);
  void reserve_locally(std::size_t wanted);
  void use_local_rate(bool local, std::error_code error);
  void schedule_slots(const std::vector<std::int64_t>& offsets_us);
  void arm_slot_timer();
  void on_slot_timer();
  void on_slot();
  void arm_rate_retry(std::chrono::microseconds wait);
  void fetch(queue::Claim claim);
  void send_banked();
  void on_throttled(const Decision& decision);
  void feed_circuit(const queue::Claim& claim, const Decision& decision);
  void open_circuit(const std::string& reason);
  void on_circuit_open_seen();
  void check_circuit();
  void arm_circuit_check(std::chrono::milliseconds wait);
  void give_back(queue::Claim claim);
  void give_back_waiting();
  void on_fetched(const queue::Claim& claim, const provider::FetchResult& result);
  void on_written(const queue::Claim& claim, const store::StatusUpdate& update,
                  std::error_code error, store::WriteOutcome outcome);
  void complete(const queue::Claim& claim, queue::Completion::Kind kind, Duration delay,
                std::string reason);
  void flush_acks();
  void hand_back(queue::Claim claim);
  void on_grace_expired();
  void maybe_finish_stop();
  void finish_stop();
  void track_provider_health(const Decision& decision, const provider::FetchResult& result);
  void note_outcome(const queue::Claim& claim, const Decision& decision,
                    const provider::FetchResult& result);
  double random_unit();

  boost::asio::io_context& io_;
  config::Config config_;
  queue::Queue& queue_;
  provider::Client& client_;
  store::Store& store_;
  Policy policy_;
  std::mt19937_64 random_;

  // Pacing.
  double target_rate_;                    // rate_limit less the headroom
  limiter::Micros tolerance_;             // the burst's tolerance, less burst_margin
  limiter::Gcra local_gcra_;              // used while Redis is unreachable
  limiter::RateFactor local_factor_;
  std::size_t reserved_ = 0;              // send times reserved and not yet reached
  // Send times reached while max_in_flight requests were running; each is
  // used as soon as a request finishes.
  std::size_t banked_slots_ = 0;
  std::size_t requests_in_flight_ = 0;    // provider requests running now
  bool acquire_in_flight_ = false;
  bool rate_local_ = false;
  std::chrono::steady_clock::time_point pause_until_{};
  // Reserved send times, earliest first, all waited for by one timer.
  std::priority_queue<std::chrono::steady_clock::time_point,
                      std::vector<std::chrono::steady_clock::time_point>, std::greater<>>
      slot_times_;
  std::optional<std::chrono::steady_clock::time_point> slot_timer_at_;  // when armed

  // Provider circuit.
  limiter::Circuit circuit_;
  std::string instance_name_;             // holder of the probe lock
  std::optional<std::int64_t> probe_token_;  // lease token of the claim being probed
  bool circuit_check_in_flight_ = false;
  bool circuit_timer_armed_ = false;

  boost::asio::steady_timer wake_timer_;
  boost::asio::steady_timer token_timer_;
  boost::asio::steady_timer slot_timer_;
  boost::asio::steady_timer circuit_timer_;
  boost::asio::steady_timer grace_timer_;

  std::size_t active_ = 0;                // claims held until acked or handed back
  std::deque<queue::Claim> waiting_;      // claimed, waiting for a send time
  std::vector<queue::Completion> pending_acks_;
  bool ack_in_flight_ = false;
  bool claim_in_flight_ = false;
  bool drain_active_ = false;
  bool token_timer_armed_ = false;
  bool queue_connected_ = false;

  bool stopping_ = false;
  bool grace_expired_ = false;
  bool release_in_flight_ = false;
  std::vector<queue::Claim> to_release_;
  std::function<void()> stopped_;

  std::set<std::string> unknown_words_logged_;
  bool account_rejected_logged_ = false;
  Counters counters_;
  std::function<void(std::chrono::microseconds)> latency_observer_;
  int provider_failures_in_row_ = 0;      // polls without a usable response
  bool provider_failing_ = false;         // logged as failing, not yet recovered
};

}  // namespace smm::sync
