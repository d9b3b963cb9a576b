#include "limiter/token_bucket.hpp"

#include <algorithm>
#include <cmath>

namespace smm::limiter {

TokenBucket::TokenBucket(double rate_per_second, int burst, Clock::time_point now)
    : rate_(rate_per_second),
      burst_(static_cast<double>(std::max(burst, 1))),
      tokens_(burst_),
      last_refill_(now) {}

void TokenBucket::refill(Clock::time_point now) {
  if (now <= last_refill_) return;
  std::chrono::duration<double> elapsed = now - last_refill_;
  tokens_ = std::min(burst_, tokens_ + elapsed.count() * rate_);
  last_refill_ = now;
}

TokenBucket::Clock::duration TokenBucket::try_acquire(Clock::time_point now) {
  if (now < paused_until_) return paused_until_ - now;

  refill(now);
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return Clock::duration::zero();
  }

  // Wait exactly until the next whole token has accrued, rounded up so the
  // caller never wakes a hair early and spins.
  std::chrono::duration<double> missing((1.0 - tokens_) / rate_);
  auto wait = std::chrono::ceil<Clock::duration>(missing);
  return std::max(wait, Clock::duration(1));
}

void TokenBucket::pause_until(Clock::time_point until) {
  paused_until_ = std::max(paused_until_, until);
}

}  // namespace smm::limiter
