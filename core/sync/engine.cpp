#include "sync/engine.hpp"

#include <algorithm>
#include <chrono>
#include <iterator>

#include <unistd.h>

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

limiter::Micros steady_now_us() {
  return duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch());
}

// "<host>:<pid>", the probe lock's holder, for operators reading Redis.
std::string make_instance_name() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host) + ":" + std::to_string(getpid());
}

limiter::ThrottlePolicy throttle_policy(const config::ProviderConfig& provider) {
  return limiter::ThrottlePolicy{provider.throttle_backoff, provider.throttle_floor,
                                 provider.throttle_recovery,
                                 duration_cast<std::chrono::microseconds>(provider.throttle_hold)};
}

limiter::AccountSignal account_signal(PollOutcome outcome) {
  switch (outcome) {
    case PollOutcome::status_known:
    case PollOutcome::status_unknown:
    case PollOutcome::order_rejected: return limiter::AccountSignal::accepted;
    case PollOutcome::account_rejected: return limiter::AccountSignal::rejected;
    default: return limiter::AccountSignal::inconclusive;
  }
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
      random_(std::random_device{}()),
      target_rate_(limiter::target_rate(config.provider.rate_limit, config.provider.rate_headroom)),
      tolerance_(limiter::burst_tolerance(
          config.provider.rate_limit, config.provider.burst,
          duration_cast<std::chrono::microseconds>(config.provider.burst_margin))),
      local_gcra_(target_rate_ * config.provider.local_rate_share, tolerance_),
      local_factor_(throttle_policy(config.provider)),
      instance_name_(make_instance_name()),
      wake_timer_(io),
      token_timer_(io),
      slot_timer_(io),
      circuit_timer_(io),
      grace_timer_(io) {}

double Engine::random_unit() {
  return std::uniform_real_distribution<double>(0.0, 1.0)(random_);
}

void Engine::start() {
  logger().info("sync_started max_in_flight={} rate_limit={} burst={} target_rate={:.3f} tolerance_ms={:.1f}",
               config_.provider.max_in_flight, config_.provider.rate_limit,
               config_.provider.burst, target_rate_,
               static_cast<double>(tolerance_.count()) / 1000.0);
}

void Engine::on_queue_state(bool connected) {
  queue_connected_ = connected;
  if (!connected || stopping_) return;
  drain_loop();
  // Learn whether the provider circuit is open before claiming anything.
  check_circuit();
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

  // An open circuit claims nothing; a probing one claims the probe's one id.
  const bool probing = circuit_.phase() == limiter::CircuitPhase::probing;
  if (circuit_.phase() == limiter::CircuitPhase::open || (probing && probe_token_)) return;

  // Claims held (waiting, polling or writing) are capped by max_claimed;
  // requests alone by max_in_flight, so writes never hold request capacity.
  const auto max_claimed = static_cast<std::size_t>(config_.poll.max_claimed);
  if (active_ >= max_claimed) return;
  const int wanted = probing ? 1 : static_cast<int>(std::min(
      max_claimed - active_, static_cast<std::size_t>(config_.redis.claim_batch)));

  claim_in_flight_ = true;
  queue_.claim(wanted, [self = shared_from_this(), wanted, probing](std::error_code error,
                                                                   queue::ClaimResult result) {
    self->claim_in_flight_ = false;
    if (error) {
      self->arm_wake(std::nullopt);
      self->maybe_finish_stop();
      return;
    }
    if (probing && !self->stopping_) {
      if (result.claims.empty()) {
        // Nothing is due to probe with; the lock lapses and a later check
        // (here or elsewhere) probes once work is due.
        self->circuit_.on_probe_abandoned();
        self->arm_circuit_check(self->config_.redis.idle_poll);
      } else {
        self->probe_token_ = result.claims.front().token;
        ++self->counters_.circuit_probes;
        logger().info("provider_circuit_probe id={}", result.claims.front().id);
      }
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

// Requests send times for every waiting claim that has none yet, one Redis
// call at a time. The reply either covers them or gives the wait before the next call.
void Engine::send_waiting() {
  if (stopping_) return;
  if (circuit_.phase() == limiter::CircuitPhase::open) {
    give_back_waiting();
    return;
  }
  const std::size_t covered = reserved_ + banked_slots_;
  if (waiting_.size() <= covered || acquire_in_flight_ || token_timer_armed_) return;
  const std::size_t wanted = waiting_.size() - covered;

  if (!queue_connected_) {
    use_local_rate(true, errc::redis_disconnected);
    reserve_locally(wanted);
    return;
  }

  queue::RateRequest request;
  request.rate_per_second = target_rate_;
  request.tolerance_us = tolerance_.count();
  request.wanted = static_cast<int>(wanted);
  request.lookahead_us = duration_cast<std::chrono::microseconds>(config_.provider.rate_lookahead).count();
  request.recovery_per_second = config_.provider.throttle_recovery;
  request.probe = circuit_.phase() == limiter::CircuitPhase::probing;

  acquire_in_flight_ = true;
  queue_.acquire_rate(request, [self = shared_from_this(), wanted](std::error_code error,
                                                                   queue::RateGrant grant) {
    self->acquire_in_flight_ = false;
    self->on_rate_grant(wanted, error, grant);
  });
}

void Engine::on_rate_grant(std::size_t wanted, std::error_code error, const queue::RateGrant& grant) {
  if (stopping_) return;
  if (error) {
    use_local_rate(true, error);
    const std::size_t covered = reserved_ + banked_slots_;
    reserve_locally(std::min(wanted, waiting_.size() - std::min(waiting_.size(), covered)));
    return;
  }
  use_local_rate(false, {});

  counters_.rate_factor = grant.rate_factor;
  if (grant.pause_remaining_us > 0) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= pause_until_) {
      logger().info("provider_paused source=shared remaining_ms={}", grant.pause_remaining_us / 1000);
    }
    pause_until_ = std::max(pause_until_, now + std::chrono::microseconds(grant.pause_remaining_us));
  }
  if (grant.circuit_open && circuit_.phase() == limiter::CircuitPhase::closed) {
    on_circuit_open_seen();
    return;
  }

  schedule_slots(grant.slot_offsets_us);
  if (grant.slot_offsets_us.size() < wanted) {
    arm_rate_retry(std::chrono::microseconds(grant.wait_us));
    return;
  }
  send_waiting();  // claims that arrived meanwhile
}

// The fallback while Redis is unreachable: this instance alone, at its share.
void Engine::reserve_locally(std::size_t wanted) {
  const auto now = steady_now_us();
  const auto now_tp = std::chrono::steady_clock::now();
  if (now_tp < pause_until_) {
    arm_rate_retry(duration_cast<std::chrono::microseconds>(pause_until_ - now_tp));
    return;
  }
  counters_.rate_factor = local_factor_.value(now);
  local_gcra_.set_rate(target_rate_ * config_.provider.local_rate_share * counters_.rate_factor);

  const auto lookahead = duration_cast<std::chrono::microseconds>(config_.provider.rate_lookahead);
  std::vector<std::int64_t> offsets;
  while (offsets.size() < wanted) {
    auto slot = local_gcra_.reserve(now, lookahead);
    if (!slot) break;
    offsets.push_back(slot->count());
  }
  schedule_slots(offsets);
  if (offsets.size() < wanted) arm_rate_retry(local_gcra_.wait_for_slot(now, lookahead));
}

// Logs each switch between the shared and the local limit once.
void Engine::use_local_rate(bool local, std::error_code error) {
  if (local == rate_local_) return;
  rate_local_ = local;
  counters_.rate_limit_local = local;
  if (local) {
    ++counters_.rate_local_fallbacks;
    logger().warn("rate_limit_local error=\"{}\" local_rate={:.3f} action=pace_alone",
                 error.message(), target_rate_ * config_.provider.local_rate_share);
  } else {
    logger().info("rate_limit_shared target_rate={:.3f}", target_rate_);
  }
}

void Engine::schedule_slots(const std::vector<std::int64_t>& offsets_us) {
  const auto now = std::chrono::steady_clock::now();
  for (std::int64_t offset : offsets_us) {
    ++reserved_;
    ++counters_.rate_slots_granted;
    slot_times_.push(now + std::chrono::microseconds(offset));
  }
  arm_slot_timer();
}

// Keeps the one slot timer armed for the earliest reserved send time.
void Engine::arm_slot_timer() {
  if (stopping_ || slot_times_.empty()) return;
  const auto earliest = slot_times_.top();
  if (slot_timer_at_ && *slot_timer_at_ <= earliest) return;
  slot_timer_at_ = earliest;
  // Re-arming cancels the pending wait, so its handler gets
  // operation_aborted and leaves the timer to this one.
  slot_timer_.expires_at(earliest);
  slot_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
    if (error) return;
    self->on_slot_timer();
  });
}

// Uses every send time that has been reached, oldest first.
void Engine::on_slot_timer() {
  slot_timer_at_.reset();
  const auto now = std::chrono::steady_clock::now();
  while (!stopping_ && !slot_times_.empty() && slot_times_.top() <= now) {
    slot_times_.pop();
    --reserved_;
    on_slot();
  }
  arm_slot_timer();
}

// Sends the oldest waiting claim at its reserved time, unless a pause or the
// open circuit forbids it. A skipped time is lost, which only leaves part of
// the provider's allowance unused.
void Engine::on_slot() {
  const bool paused = std::chrono::steady_clock::now() < pause_until_;
  if (stopping_ || waiting_.empty() || paused || circuit_.phase() == limiter::CircuitPhase::open) {
    ++counters_.rate_slots_unused;
    send_waiting();
    return;
  }
  if (requests_in_flight_ >= static_cast<std::size_t>(config_.provider.max_in_flight)) {
    ++banked_slots_;
    return;
  }
  queue::Claim claim = std::move(waiting_.front());
  waiting_.pop_front();
  fetch(std::move(claim));
}

// Uses send times that came due while max_in_flight requests were running.
// A send time is only ever used late, never early, so the rate still holds.
void Engine::send_banked() {
  const auto max_in_flight = static_cast<std::size_t>(config_.provider.max_in_flight);
  while (banked_slots_ > 0 && requests_in_flight_ < max_in_flight) {
    const bool paused = std::chrono::steady_clock::now() < pause_until_;
    if (stopping_ || waiting_.empty() || paused || circuit_.phase() == limiter::CircuitPhase::open) {
      counters_.rate_slots_unused += banked_slots_;
      banked_slots_ = 0;
      return;
    }
    --banked_slots_;
    queue::Claim claim = std::move(waiting_.front());
    waiting_.pop_front();
    fetch(std::move(claim));
  }
}

void Engine::arm_rate_retry(std::chrono::microseconds wait) {
  if (token_timer_armed_) return;
  ++counters_.rate_limit_waits;
  token_timer_armed_ = true;
  token_timer_.expires_after(std::max(wait, std::chrono::microseconds(std::chrono::milliseconds(1))));
  token_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
    self->token_timer_armed_ = false;
    if (!error) self->send_waiting();
  });
}

void Engine::fetch(queue::Claim claim) {
  auto self = shared_from_this();
  const std::string id = claim.id;
  ++requests_in_flight_;
  client_.fetch_status(id, [self, claim = std::move(claim)](provider::FetchResult result) {
    --self->requests_in_flight_;
    self->send_banked();
    self->on_fetched(claim, result);
  });
}

void Engine::on_fetched(const queue::Claim& claim, const provider::FetchResult& result) {
  if (result.transport_error == errc::shutting_down) {
    hand_back(claim);
    return;
  }

  if (latency_observer_ && result.http_status != 0) latency_observer_(result.latency);

  Decision decision = decide(result, claim, policy_, random_unit());
  note_outcome(claim, decision, result);
  feed_circuit(claim, decision);
  if (decision.outcome == PollOutcome::throttled) on_throttled(decision);

  if (decision.hand_back) {
    ++counters_.circuit_handed_back;
    give_back(claim);
    return;
  }
  if (!decision.write) {
    complete(claim, decision.kind, decision.delay, decision.reason);
    return;
  }

  store::StatusUpdate update = std::move(*decision.write);
  auto written = [self = shared_from_this(), claim, update](std::error_code error,
                                                            store::WriteOutcome outcome) {
    self->on_written(claim, update, error, outcome);
  };
  store_.write(std::move(update), std::move(written));
}

// ---- throttling ----------------------------------------------------------

// Retry-After pauses every instance; a bare 429 cuts the shared rate.
void Engine::on_throttled(const Decision& decision) {
  queue::ThrottleRequest request;
  request.backoff = config_.provider.throttle_backoff;
  request.floor = config_.provider.throttle_floor;
  request.recovery_per_second = config_.provider.throttle_recovery;
  request.hold_us = duration_cast<std::chrono::microseconds>(config_.provider.throttle_hold).count();

  if (decision.pause_provider) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= pause_until_) {
      logger().warn("provider_throttled pause_ms={} source=retry_after", decision.pause_provider->count());
    }
    pause_until_ = std::max(pause_until_, now + *decision.pause_provider);
    ++counters_.throttle_pauses;
    request.pause_ms = decision.pause_provider->count();
  } else {
    local_factor_.cut(steady_now_us());
  }
  if (!queue_connected_) return;

  const bool pause = request.pause_ms > 0;
  queue_.throttle(request, [self = shared_from_this(), pause](std::error_code error,
                                                              queue::ThrottleResult result) {
    if (error) {
      logger().debug("throttle_not_shared error=\"{}\"", error.message());
      return;
    }
    self->counters_.rate_factor = result.rate_factor;
    if (!pause && result.cut) {
      ++self->counters_.rate_cuts;
      logger().warn("provider_rate_reduced factor={:.3f} source=http_429", result.rate_factor);
    }
  });
}

// ---- provider circuit ----------------------------------------------------

void Engine::feed_circuit(const queue::Claim& claim, const Decision& decision) {
  const bool probe = probe_token_ && *probe_token_ == claim.token;
  if (probe) probe_token_.reset();

  const limiter::AccountSignal signal = account_signal(decision.outcome);
  switch (circuit_.on_answer(signal, probe)) {
    case limiter::CircuitAction::open_shared:
      open_circuit(decision.reason);
      return;
    case limiter::CircuitAction::close_shared:
      queue_.close_circuit([self = shared_from_this()](std::error_code error, bool) {
        if (error) {
          logger().warn("provider_circuit_close_failed error=\"{}\" action=peers_wait_for_probe",
                       error.message());
        }
        logger().info("provider_circuit_closed source=probe");
        self->pump();
      });
      return;
    case limiter::CircuitAction::none:
      break;
  }
  // An inconclusive probe leaves the circuit open until the probe lock lapses.
  if (probe && circuit_.phase() == limiter::CircuitPhase::open) {
    logger().info("provider_circuit_probe_inconclusive outcome={}", to_string(decision.outcome));
    arm_circuit_check(config_.redis.idle_poll);
  }
}

void Engine::open_circuit(const std::string& reason) {
  ++counters_.circuit_opened;
  logger().error("provider_circuit_open reason=\"{}\" cooldown_ms={} action=stop_polling", reason,
                config_.provider.circuit_cooldown.count());
  give_back_waiting();
  queue_.open_circuit(reason, config_.provider.circuit_cooldown,
                      [self = shared_from_this()](std::error_code error, bool) {
                        if (error) {
                          logger().warn("provider_circuit_not_shared error=\"{}\"", error.message());
                        }
                        self->arm_circuit_check(self->config_.provider.circuit_cooldown);
                      });
}

// Another instance opened the circuit.
void Engine::on_circuit_open_seen() {
  if (!circuit_.on_shared_open()) return;
  ++counters_.circuit_opened;
  logger().error("provider_circuit_open source=shared action=stop_polling");
  give_back_waiting();
  arm_circuit_check(config_.redis.idle_poll);
}

// Reads the shared circuit. While it is open, this runs again every
// idle_poll or sooner when the probe is due, so a close by any instance
// takes effect here within idle_poll.
void Engine::check_circuit() {
  if (stopping_ || circuit_check_in_flight_ || !queue_connected_) return;
  circuit_check_in_flight_ = true;
  queue_.check_circuit(instance_name_, config_.provider.circuit_cooldown,
                       [self = shared_from_this()](std::error_code error, queue::CircuitState state) {
    self->circuit_check_in_flight_ = false;
    if (self->stopping_) return;
    if (error) {
      self->arm_circuit_check(self->config_.redis.idle_poll);
      return;
    }
    using Kind = queue::CircuitState::Kind;
    if (state.kind == Kind::closed) {
      if (self->circuit_.is_open()) logger().info("provider_circuit_closed source=shared");
      self->circuit_.on_shared_closed();
      self->probe_token_.reset();
      self->pump();
      self->send_waiting();
      return;
    }
    if (self->circuit_.on_shared_open()) {
      ++self->counters_.circuit_opened;
      logger().error("provider_circuit_open source=shared reason=\"{}\" action=stop_polling", state.reason);
      self->give_back_waiting();
    }
    if (state.kind == Kind::probe) {
      self->circuit_.on_probe_won();
      self->pump();
      return;
    }
    self->arm_circuit_check(std::min(std::chrono::milliseconds(state.wait_ms), self->config_.redis.idle_poll));
  });
}

void Engine::arm_circuit_check(std::chrono::milliseconds wait) {
  if (stopping_ || circuit_timer_armed_) return;
  circuit_timer_armed_ = true;
  circuit_timer_.expires_after(std::min(std::max(wait, std::chrono::milliseconds(1)), config_.redis.idle_poll));
  circuit_timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
    self->circuit_timer_armed_ = false;
    if (!error) self->check_circuit();
  });
}

// Hands a claim back as it was (due now, no attempt or failure counted).
void Engine::give_back(queue::Claim claim) {
  if (stopping_) {
    hand_back(std::move(claim));
    return;
  }
  std::vector<queue::Claim> claims;
  claims.push_back(std::move(claim));
  queue_.release(std::move(claims), [self = shared_from_this()](std::error_code error, int) {
    --self->active_;
    ++self->counters_.released;
    if (error) {
      logger().warn("hand_back_failed count=1 error=\"{}\" action=lease_expires", error.message());
    }
    self->pump();
    self->maybe_finish_stop();
  });
}

void Engine::give_back_waiting() {
  counters_.rate_slots_unused += banked_slots_;
  banked_slots_ = 0;
  if (waiting_.empty()) return;
  std::vector<queue::Claim> claims(std::make_move_iterator(waiting_.begin()),
                                   std::make_move_iterator(waiting_.end()));
  waiting_.clear();
  if (stopping_) {
    for (auto& claim : claims) hand_back(std::move(claim));
    return;
  }
  const std::size_t count = claims.size();
  counters_.circuit_handed_back += count;
  queue_.release(std::move(claims), [self = shared_from_this(), count](std::error_code error, int) {
    self->active_ -= count;
    self->counters_.released += count;
    if (error) {
      logger().warn("hand_back_failed count={} error=\"{}\" action=leases_expire", count, error.message());
    } else {
      logger().info("handed_back count={} reason=provider_circuit_open", count);
    }
    self->maybe_finish_stop();
  });
}

// Logs a provider outage once when outage_after polls in a row got no
// usable answer, and once more when an answer arrives again, so a TLS,
// DNS or HTTP failure is visible at info level without a line per order.
void Engine::track_provider_health(const Decision& decision, const provider::FetchResult& result) {
  const bool failed = decision.outcome == PollOutcome::transport_error ||
                      decision.outcome == PollOutcome::http_error ||
                      decision.outcome == PollOutcome::malformed;
  if (!failed) {
    if (decision.outcome == PollOutcome::throttled) return;
    if (provider_failing_) {
      logger().info("provider_recovered failed_polls={}", provider_failures_in_row_);
    }
    provider_failing_ = false;
    provider_failures_in_row_ = 0;
    return;
  }

  ++provider_failures_in_row_;
  if (provider_failing_ || provider_failures_in_row_ < config_.provider.outage_after) return;
  provider_failing_ = true;
  logger().warn("provider_failing outcome={} detail=\"{}\" http_status={} failed_polls={} action=retry_with_backoff",
                to_string(decision.outcome), decision.reason, result.http_status,
                provider_failures_in_row_);
}

void Engine::note_outcome(const queue::Claim& claim, const Decision& decision,
                          const provider::FetchResult& result) {
  ++counters_.polls[static_cast<std::size_t>(decision.outcome)];
  track_provider_health(decision, result);

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
        logger().error("provider_rejected_account message=\"{}\" action=open_circuit",
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
      // leases end. Their writes, if any, are already committed, so the
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
  circuit_timer_.cancel();
  slot_timer_.cancel();
  slot_timer_at_.reset();
  reserved_ -= slot_times_.size();
  slot_times_ = {};
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
