#include "sync/decision.hpp"

#include <algorithm>
#include <cctype>

#include "limiter/backoff.hpp"

namespace smm::sync {
namespace {

using Kind = queue::Completion::Kind;

std::string lower_ascii(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return text;
}

bool is_account_level(const std::string& message, const std::vector<std::string>& patterns) {
  const std::string lowered = lower_ascii(message);
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& pattern) {
    return !pattern.empty() && lowered.find(lower_ascii(pattern)) != std::string::npos;
  });
}

Duration transient_delay(const queue::Claim& claim, const Policy& policy, double random_unit) {
  return limiter::full_jitter_backoff(policy.retry_base, policy.retry_cap, claim.failures,
                                      random_unit);
}

Decision transient(PollOutcome outcome, std::string reason, const queue::Claim& claim,
                   const Policy& policy, double random_unit) {
  Decision decision;
  decision.outcome = outcome;
  decision.kind = Kind::retry_transient;
  decision.delay = transient_delay(claim, policy, random_unit);
  decision.reason = std::move(reason);
  return decision;
}

Decision from_rejection(const provider::Rejection& rejection, const queue::Claim& claim,
                        const Policy& policy, double random_unit) {
  Decision decision;
  decision.reason = rejection.message;

  // An account problem is no fault of the order: hand it back without
  // burning one of its attempts. The engine opens the provider circuit.
  if (is_account_level(rejection.message, policy.account_error_patterns)) {
    decision.outcome = PollOutcome::account_rejected;
    decision.kind = Kind::retry_transient;
    decision.delay = transient_delay(claim, policy, random_unit);
    decision.hand_back = true;
    return decision;
  }

  decision.outcome = PollOutcome::order_rejected;
  if (claim.attempts + 1 >= policy.max_attempts) {
    decision.kind = Kind::dead;
    return decision;
  }
  decision.kind = Kind::retry_rejected;
  decision.delay = limiter::full_jitter_backoff(policy.rejection_base, policy.rejection_cap,
                                                claim.attempts, random_unit);
  return decision;
}

Decision from_report(const provider::StatusReport& report, const queue::Claim& claim,
                     const Policy& policy, double random_unit) {
  Decision decision;
  auto local = policy.status_map.local_status(report.status_word);
  if (!local) {
    decision.outcome = PollOutcome::status_unknown;
    decision.kind = Kind::reschedule;
    decision.delay = limiter::jittered_interval(policy.unknown_status_interval, policy.jitter,
                                                random_unit);
    decision.reason = report.status_word;
    return decision;
  }

  decision.outcome = PollOutcome::status_known;
  decision.write = store::StatusUpdate{claim.id, *local, report.start_count, report.remains};
  // The completion is settled by decide_after_write once the write is done.
  decision.kind = Kind::reschedule;
  return decision;
}

}  // namespace

const char* to_string(PollOutcome outcome) {
  switch (outcome) {
    case PollOutcome::status_known: return "status_known";
    case PollOutcome::status_unknown: return "status_unknown";
    case PollOutcome::order_rejected: return "order_rejected";
    case PollOutcome::account_rejected: return "account_rejected";
    case PollOutcome::throttled: return "throttled";
    case PollOutcome::http_error: return "http_error";
    case PollOutcome::malformed: return "malformed";
    case PollOutcome::transport_error: return "transport_error";
  }
  return "unknown";
}

Policy Policy::from_config(const config::Config& config) {
  return Policy{
      StatusMap(config.status_map, config.poll.final_statuses),
      config.poll.pending_interval,
      config.poll.processing_interval,
      config.poll.unknown_status_interval,
      config.poll.max_attempts,
      config.poll.retry_base,
      config.poll.retry_cap,
      config.poll.rejection_base,
      config.poll.rejection_cap,
      config.poll.jitter,
      config.provider.account_error_patterns,
      config.provider.max_pause,
  };
}

Decision decide(const provider::FetchResult& result, const queue::Claim& claim,
                const Policy& policy, double random_unit) {
  // 1. No HTTP response at all.
  if (result.transport_error) {
    std::string reason = result.transport_error.message();
    if (!result.transport_detail.empty()) reason += ": " + result.transport_detail;
    return transient(PollOutcome::transport_error, std::move(reason), claim,
                     policy, random_unit);
  }

  // 2. Throttling: pause everyone for Retry-After, and retry this id after it.
  const bool throttled = result.http_status == 429 ||
                         (result.http_status == 503 && result.retry_after.has_value());
  if (throttled) {
    Decision decision = transient(PollOutcome::throttled,
                                  "HTTP " + std::to_string(result.http_status), claim, policy,
                                  random_unit);
    if (result.retry_after) {
      decision.pause_provider =
          std::min(std::chrono::duration_cast<Duration>(*result.retry_after), policy.max_pause);
      decision.delay = std::max(decision.delay, *decision.pause_provider);
    }
    return decision;
  }

  // 3. Some providers refuse a bad key or a blocked IP with 401 or 403 and
  //    the usual JSON rejection. Only such a body is trusted, because a
  //    CDN's HTML 403 page carries no verdict on the account.
  const bool auth_status = result.http_status == 401 || result.http_status == 403;
  if (const auto* rejection = std::get_if<provider::Rejection>(&result.answer);
      auth_status && rejection != nullptr &&
      is_account_level(rejection->message, policy.account_error_patterns)) {
    return from_rejection(*rejection, claim, policy, random_unit);
  }

  // 4. Any other HTTP error is a fault of the transport, whatever the body
  //    contains: CDN pages and 5xx never count against an order or the account.
  if (result.http_status < 200 || result.http_status >= 300) {
    return transient(PollOutcome::http_error, "HTTP " + std::to_string(result.http_status),
                     claim, policy, random_unit);
  }

  // 5. A 2xx response: trust it only as far as the parser does.
  if (const auto* report = std::get_if<provider::StatusReport>(&result.answer)) {
    return from_report(*report, claim, policy, random_unit);
  }
  if (const auto* rejection = std::get_if<provider::Rejection>(&result.answer)) {
    return from_rejection(*rejection, claim, policy, random_unit);
  }
  const auto& malformed = std::get<provider::MalformedAnswer>(result.answer);
  return transient(PollOutcome::malformed, malformed.reason, claim, policy, random_unit);
}

AfterWrite decide_after_write(std::error_code write_error, store::WriteOutcome outcome,
                              const store::StatusUpdate& update, const queue::Claim& claim,
                              const Policy& policy, double random_unit) {
  if (write_error) {
    return {Kind::retry_transient, transient_delay(claim, policy, random_unit)};
  }
  if (outcome == store::WriteOutcome::no_row || outcome == store::WriteOutcome::final_protected) {
    return {Kind::done, Duration(0)};
  }
  if (policy.status_map.is_final(update.status)) {
    return {Kind::done, Duration(0)};
  }

  // Pending orders move slowly; anything else non-final is re-polled at the
  // processing pace.
  const auto pending = policy.status_map.local_status("pending");
  const bool is_pending = pending.has_value() && update.status == *pending;
  const Duration interval = is_pending ? policy.pending_interval : policy.processing_interval;
  return {Kind::reschedule, limiter::jittered_interval(interval, policy.jitter, random_unit)};
}

}  // namespace smm::sync
