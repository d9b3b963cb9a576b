#pragma once
// Additive-increase, multiplicative-decrease of the request rate after the
// provider throttles without saying for how long (HTTP 429 without
// Retry-After). Pure, on a caller's clock. The Redis script RATE_THROTTLE
// (queue/detail/scripts.hpp) applies the same rule to the factor all
// instances share; this class serves the local fallback.

#include <chrono>
#include <optional>

namespace smm::limiter {

struct ThrottlePolicy {
  double backoff = 0.5;              // factor multiplier per cut, in (0, 1)
  double floor = 0.1;                // the factor never drops below this
  double recovery_per_second = 0.05; // factor regained per second after a cut
  // Throttle answers within this time after a cut belong to requests sent
  // before it, so they do not cut again.
  std::chrono::microseconds hold{std::chrono::seconds(1)};
};

class RateFactor {
 public:
  explicit RateFactor(ThrottlePolicy policy) : policy_(policy) {}

  // The fraction of the target rate to use at `now`, in [floor, 1].
  double value(std::chrono::microseconds now) const;

  // Multiplies the factor by policy.backoff unless the last cut was less
  // than policy.hold ago. Returns whether it cut.
  bool cut(std::chrono::microseconds now);

 private:
  ThrottlePolicy policy_;
  double factor_ = 1.0;
  std::chrono::microseconds factor_at_{0};
  std::optional<std::chrono::microseconds> cut_at_;
};

}  // namespace smm::limiter
