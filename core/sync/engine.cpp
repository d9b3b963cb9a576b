#include "sync/engine.hpp"

#include <algorithm>
#include <chrono>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "log/log.hpp"

namespace smm::sync {
namespace {

using Kind = queue::Completion::Kind;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

spdlog::logger& logger() {
  static const auto instance = log::get("sync");
  return *instance;
}

std::int64_t unix_ms_now() {
  return duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

const char* to_string(Kind kind) {
  switch (kind) {
    case Kind::done: return "done";
    case Kind::reschedule: return "reschedule";
    case Kind::retry_transient: return "retry_transient";
    case Kind::retry_rejected: return "retry_rejected";
    case Kind::dead: return "dead";
  }
  return "unknown";
}

}  // namespace

Engine::Engine(boost::asio::io_context& io, const config::Config& config, queue::Queue& queue,
               provider::Client& client, store::Store& store)
    : io_(io),
      config_(config),
      queue_(queue),
      client_(client),
      store_(store),
      policy_(Policy::from_config(config)),
      bucket_(config.provider.rate_limit, config.provider.burst,
              limiter::TokenBucket::Clock::now()),
      random_(std::random_device{}()),
      wake_timer_(io),
      token_timer_(io),
      grace_timer_(io) {}

double Engine::random_unit() {
  return std::uniform_real_distribution<double>(0.0, 1.0)(random_);
}

void Engine::start() {
  logger().info("sync_started max_in_flight={} rate_limit={} burst={}",
               config_.provider.max_in_flight, config_.provider.rate_limit,
               config_.provider.burst);
}

void Engine::on_queue_state(bool connected) {
  queue_connected_ = connected;
  if (!connected || stopping_) return;
  drain_loop();
  pump();
}

// ---- inbox ---------------------------------------------------------------

void Engine::drain_loop() {
  if (stopping_ || drain_active_ || !queue_connected_) return;
  drain_active_ = true;

  queue_.drain([self = shared_from_this()](std::error_code error, queue::DrainResult result) {
    if (error) {
      // The queue logs the outage and reports the reconnect through
      // on_queue_state, which restarts this loop.
      self->drain_active_ = false;
      return;
    }
    self->counters_.drained_ids += static_cast<std::uint64_t>(result.scheduled);
    self->counters_.drained_invalid += static_cast<std::uint64_t>(result.dead);
    if (result.dead > 0) {
      logger().warn("invalid_payloads_dead_lettered count={}", result.dead);
    }
    if (result.scheduled > 0) self->pump();

    if (self->stopping_) {
      self->drain_active_ = false;
      return;
    }
    const int moved = result.scheduled + result.dead;
    if (moved >= self->config_.redis.drain_batch) {
      self->drain_active_ = false;
      self->drain_loop();
      return;
    }
    self->queue_.wait_for_inbox([self] {
      self->drain_active_ = false;
      self->drain_loop();
    });
  });
}

// ---- claiming ------------------------------------------------------------

void Engine::pump() {
  if (stopping_ || claim_in_flight_ || !queue_connected_) return;

  const auto max_in_flight = static_cast<std::size_t>(config_.provider.max_in_flight);
  if (active_ >= max_in_flight) return;
  const int wanted = static_cast<int>(
      std::min(max_in_flight - active_, static_cast<std::size_t>(config_.redis.claim_batch)));

  claim_in_flight_ = true;
  queue_.claim(wanted, [self = shared_from_this(), wanted](std::error_code error,
                                                          queue::ClaimResult result) {
    self->claim_in_flight_ = false;
    if (error) {
      self->arm_wake(std::nullopt);
      self->maybe_finish_stop();
      return;
    }

    self->active_ += result.claims.size();
    self->counters_.claimed += result.claims.size();
    self->counters_.dead_lettered += static_cast<std::uint64_t>(result.given_up);
    if (result.given_up > 0) logger().warn("orders_given_up count={}", result.given_up);

    const bool full = static_cast<int>(result.claims.size()) >= wanted;
    for (auto& claim : result.claims) self->start_poll(std::move(claim));

    if (full) {
      boost::asio::post(self->io_, [self] { self->pump(); });
    } else {
      self->arm_wake(result.next_due_ms);
    }
    self->maybe_finish_stop();
  });
}

void Engine::arm_wake(std::optional<std::int64_t> next_due_ms) {
  if (stopping_) return;
  milliseconds wait = config_.redis.idle_poll;
  if (next_due_ms) {
    wait = std::min(wait, milliseconds(std::max<std::int64_t>(*next_due_ms - unix_ms_now(), 1)));
  }

  wake_timer_.expires_after(wait);
  wake_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
    if (!error) self->pump();
  });
}

// ---- polling -------------------------------------------------------------

void Engine::start_poll(queue::Claim claim) {
  if (stopping_) {
    hand_back(std::move(claim));
    return;
  }
  waiting_.push_back(std::move(claim));
  send_waiting();
}

void Engine::send_waiting() {
  while (!waiting_.empty() && !stopping_) {
    auto wait = bucket_.try_acquire(limiter::TokenBucket::Clock::now());
    if (wait > limiter::TokenBucket::Clock::duration::zero()) {
      if (token_timer_armed_) return;
      ++counters_.rate_limit_waits;
      token_timer_armed_ = true;
      token_timer_.expires_after(wait);
      token_timer_.async_wait([self = shared_from_this()](boost::system::error_code) {
        self->token_timer_armed_ = false;
        self->send_waiting();
      });
      return;
    }
    queue::Claim claim = std::move(waiting_.front());
    waiting_.pop_front();
    fetch(std::move(claim));
  }
}

void Engine::fetch(queue::Claim claim) {
  auto self = shared_from_this();
  const std::string id = claim.id;
  client_.fetch_status(id, [self, claim = std::move(claim)](provider::FetchResult result) {
    self->on_fetched(claim, result);
  });
}

void Engine::on_fetched(const queue::Claim& claim, const provider::FetchResult& result) {
  if (result.transport_error == errc::shutting_down) {
    hand_back(claim);
    return;
  }

  Decision decision = decide(result, claim, policy_, random_unit());
  note_outcome(claim, decision, result);

  if (decision.pause_provider) {
    bucket_.pause_until(limiter::TokenBucket::Clock::now() + *decision.pause_provider);
  }
  if (!decision.write) {
    complete(claim, decision.kind, decision.delay, decision.reason);
    return;
  }

  store::StatusUpdate update = *decision.write;
  store_.write(update, [self = shared_from_this(), claim, update](std::error_code error,
                                                                  store::WriteOutcome outcome) {
    self->on_written(claim, update, error, outcome);
  });
}

void Engine::note_outcome(const queue::Claim& claim, const Decision& decision,
                          const provider::FetchResult& result) {
  ++counters_.polls[static_cast<std::size_t>(decision.outcome)];

  switch (decision.outcome) {
    case PollOutcome::status_known:
      account_rejected_logged_ = false;
      logger().debug("poll_ok id={} status={} latency_ms={}", claim.id, decision.write->status,
                    duration_cast<milliseconds>(result.latency).count());
      break;
    case PollOutcome::status_unknown:
      // Once per word: a new word from the provider is worth one line, not one per order.
      if (unknown_words_logged_.insert(decision.reason).second) {
        logger().warn("unknown_status_word word=\"{}\" id={} action=repoll", decision.reason,
                     claim.id);
      }
      break;
    case PollOutcome::account_rejected:
      if (!account_rejected_logged_) {
        logger().error("provider_rejected_account message=\"{}\" action=retry_all",
                      decision.reason);
        account_rejected_logged_ = true;
      }
      break;
    case PollOutcome::order_rejected:
      logger().info("order_rejected id={} message=\"{}\" attempts={}", claim.id, decision.reason,
                   claim.attempts + 1);
      break;
    default:
      logger().debug("poll_failed id={} outcome={} detail=\"{}\" http_status={}", claim.id,
                    to_string(decision.outcome), decision.reason, result.http_status);
      break;
  }
}

void Engine::on_written(const queue::Claim& claim, const store::StatusUpdate& update,
                        std::error_code error, store::WriteOutcome outcome) {
  if (error) {
    ++counters_.write_errors;
    logger().debug("write_failed id={} error=\"{}\"", claim.id, error.message());
  } else {
    switch (outcome) {
      case store::WriteOutcome::updated: ++counters_.writes_updated; break;
      case store::WriteOutcome::unchanged: ++counters_.writes_unchanged; break;
      case store::WriteOutcome::final_protected: ++counters_.writes_final_protected; break;
      case store::WriteOutcome::no_row:
        ++counters_.writes_no_row;
        logger().warn("order_row_missing id={} table={} action=drop", claim.id,
                     config_.postgres.table);
        break;
    }
  }

  AfterWrite next = decide_after_write(error, outcome, update, claim, policy_, random_unit());
  complete(claim, next.kind, next.delay, "");
}

// ---- completion ----------------------------------------------------------

void Engine::complete(const queue::Claim& claim, Kind kind, Duration delay, std::string reason) {
  switch (kind) {
    case Kind::done: ++counters_.completed_final; break;
    case Kind::reschedule: ++counters_.rescheduled; break;
    case Kind::retry_transient:
    case Kind::retry_rejected: ++counters_.retries; break;
    case Kind::dead:
      ++counters_.dead_lettered;
      logger().warn("order_dead_lettered id={} reason=\"{}\"", claim.id, reason);
      break;
  }
  logger().trace("complete id={} kind={} delay_ms={}", claim.id, to_string(kind), delay.count());

  pending_acks_.push_back(
      queue::Completion{claim.id, claim.token, kind, unix_ms_now() + delay.count(), std::move(reason)});
  flush_acks();
}

void Engine::flush_acks() {
  if (ack_in_flight_ || pending_acks_.empty()) return;

  std::vector<queue::Completion> batch;
  batch.swap(pending_acks_);
  const std::size_t count = batch.size();
  ack_in_flight_ = true;

  queue_.complete(std::move(batch), [self = shared_from_this(), count](std::error_code error, int) {
    self->ack_in_flight_ = false;
    self->active_ -= count;
    if (error) {
      // The ids keep their leases in Redis and are polled again when the
      // leases end; their writes, if any, are already committed and the
      // repeat writes nothing.
      self->counters_.ack_failures += count;
      logger().warn("complete_failed count={} error=\"{}\" action=repoll_after_lease", count,
                   error.message());
    }
    self->flush_acks();
    self->pump();
    self->maybe_finish_stop();
  });
}

// ---- shutdown ------------------------------------------------------------

void Engine::hand_back(queue::Claim claim) {
  to_release_.push_back(std::move(claim));
  maybe_finish_stop();
}

void Engine::stop(std::function<void()> stopped) {
  if (stopping_) return;
  stopping_ = true;
  stopped_ = std::move(stopped);
  logger().info("sync_stopping in_flight={} grace_ms={}", active_ - waiting_.size(),
               config_.shutdown.grace.count());

  wake_timer_.cancel();
  token_timer_.cancel();
  while (!waiting_.empty()) {
    to_release_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }

  grace_timer_.expires_after(config_.shutdown.grace);
  grace_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
    if (!error) self->on_grace_expired();
  });
  maybe_finish_stop();
}

void Engine::on_grace_expired() {
  grace_expired_ = true;
  logger().warn("shutdown_grace_expired in_flight={} action=abort_and_hand_back",
               active_ - to_release_.size());
  // Aborted fetches come back as shutting_down and are handed back.
  client_.stop();

  // Whatever still hangs after the hand-back timeout is left to its lease.
  grace_timer_.expires_after(config_.shutdown.hand_back_timeout);
  grace_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
    if (error || !self->stopped_) return;
    logger().warn("shutdown_hand_back_timed_out unreturned={} action=leases_expire",
                 self->active_);
    self->finish_stop();
  });
}

void Engine::maybe_finish_stop() {
  if (!stopping_ || !stopped_ || release_in_flight_ || claim_in_flight_ || ack_in_flight_) return;
  if (!pending_acks_.empty() || active_ > to_release_.size()) return;

  if (to_release_.empty()) {
    finish_stop();
    return;
  }

  release_in_flight_ = true;
  std::vector<queue::Claim> claims;
  claims.swap(to_release_);
  const std::size_t count = claims.size();
  queue_.release(std::move(claims), [self = shared_from_this(), count](std::error_code error, int) {
    self->release_in_flight_ = false;
    self->active_ -= count;
    self->counters_.released += count;
    if (error) {
      logger().warn("hand_back_failed count={} error=\"{}\" action=leases_expire", count,
                   error.message());
    } else {
      logger().info("handed_back count={}", count);
    }
    self->maybe_finish_stop();
  });
}

void Engine::finish_stop() {
  if (!stopped_) return;
  grace_timer_.cancel();
  auto stopped = std::move(stopped_);
  stopped_ = nullptr;
  logger().info("sync_stopped claimed={} final={} dead={} released={}", counters_.claimed,
               counters_.completed_final, counters_.dead_lettered, counters_.released);
  stopped();
}

}  // namespace smm::sync
