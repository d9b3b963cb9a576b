#pragma once
// What to do after one poll: a pure function of the provider's response, the
// claim's counters, the policy and one random value. The engine carries the
// decision out; tests check decisions with no sockets and no clock.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "provider/client.hpp"
#include "queue/queue.hpp"
#include "store/store.hpp"
#include "sync/status_map.hpp"

namespace smm::sync {

using Duration = std::chrono::milliseconds;

// Poll outcomes, one counter each.
enum class PollOutcome {
  status_known,        // a success response with a mapped status word
  status_unknown,      // a success response whose word is not in the status map
  order_rejected,      // response:false about this order (not found ...)
  account_rejected,    // response:false about the account (key, IP, suspended)
  throttled,           // HTTP 429, or 503 with Retry-After
  http_error,          // any other non-2xx status
  malformed,           // 2xx with a body that is not a usable response
  transport_error,     // no HTTP response: DNS, connect, TLS, timeout, size cap
};
const char* to_string(PollOutcome outcome);
inline constexpr int kPollOutcomeCount = 8;

struct Policy {
  StatusMap status_map;
  Duration pending_interval;
  Duration processing_interval;
  Duration unknown_status_interval;
  int max_attempts;
  Duration retry_base;
  Duration retry_cap;
  Duration rejection_base;
  Duration rejection_cap;
  double jitter;
  // Case-insensitive substrings of a rejection message that mean the
  // account, not the order, was refused.
  std::vector<std::string> account_error_patterns;
  Duration max_pause;               // cap on a Retry-After pause

  static Policy from_config(const config::Config& config);
};

struct Decision {
  PollOutcome outcome = PollOutcome::malformed;
  // When set: write this first, and complete only after it has committed.
  std::optional<store::StatusUpdate> write;
  // The completion to apply (after the write, if any). `delay` is relative
  // to now and turned into an absolute due time by the engine.
  queue::Completion::Kind kind = queue::Completion::Kind::retry_transient;
  Duration delay{0};
  std::string reason;               // dead-letter reason, or log detail
  // Pause every request to the provider this long (Retry-After, capped by
  // Policy::max_pause).
  std::optional<Duration> pause_provider;
  // Hand the id back unchanged (due now, no attempt or failure counted)
  // instead of completing it: the account, not the order, was refused.
  bool hand_back = false;
};

Decision decide(const provider::FetchResult& result, const queue::Claim& claim,
                const Policy& policy, double random_unit);

// The completion after a write has been attempted for a status_known poll.
struct AfterWrite {
  queue::Completion::Kind kind;
  Duration delay{0};
};
AfterWrite decide_after_write(std::error_code write_error, store::WriteOutcome outcome,
                              const store::StatusUpdate& update, const queue::Claim& claim,
                              const Policy& policy, double random_unit);

}  // namespace smm::sync
