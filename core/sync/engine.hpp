#pragma once
// The sync loop: drains the inbox into the schedule, claims due ids while
// there is capacity, polls the provider for each under the local rate
// limit, writes the result to PostgreSQL, and only then completes the id in
// Redis (reschedule, retry, done or dead). An id stays leased until its
// write has committed, so a crash at any point loses nothing: the lease
// ends and the id is polled again.
//
// Thread-safety: none; everything runs on the io_context's thread.

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/config.hpp"
#include "limiter/token_bucket.hpp"
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
  bool provider_circuit_open() const { return false; }
  std::size_t active() const { return active_; }

 private:
  void drain_loop();
  void pump();
  void arm_wake(std::optional<std::int64_t> next_due_ms);
  void start_poll(queue::Claim claim);
  void send_waiting();
  void fetch(queue::Claim claim);
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
  void note_outcome(const queue::Claim& claim, const Decision& decision,
                    const provider::FetchResult& result);
  double random_unit();

  boost::asio::io_context& io_;
  config::Config config_;
  queue::Queue& queue_;
  provider::Client& client_;
  store::Store& store_;
  Policy policy_;
  limiter::TokenBucket bucket_;
  std::mt19937_64 random_;

  boost::asio::steady_timer wake_timer_;
  boost::asio::steady_timer token_timer_;
  boost::asio::steady_timer grace_timer_;

  std::size_t active_ = 0;                // claims held until acked or handed back
  std::deque<queue::Claim> waiting_;      // claimed, waiting for a rate-limit token
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
};

}  // namespace smm::sync
