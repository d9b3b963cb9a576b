#include "limiter/rate_factor.hpp"

#include <algorithm>

namespace smm::limiter {

double RateFactor::value(std::chrono::microseconds now) const {
  const auto elapsed = std::max(now - factor_at_, std::chrono::microseconds(0));
  const double seconds = std::chrono::duration<double>(elapsed).count();
  return std::min(1.0, factor_ + policy_.recovery_per_second * seconds);
}

bool RateFactor::cut(std::chrono::microseconds now) {
  if (cut_at_ && now - *cut_at_ < policy_.hold) return false;
  factor_ = std::max(policy_.floor, value(now) * policy_.backoff);
  factor_at_ = now;
  cut_at_ = now;
  return true;
}

}  // namespace smm::limiter
