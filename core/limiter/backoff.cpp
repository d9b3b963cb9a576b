#include "limiter/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace smm::limiter {

Duration full_jitter_backoff(Duration base, Duration cap, int attempt, double random_unit) {
  // 2^attempt overflows past ~60; any attempt beyond the cap's reach gives the cap.
  const int exponent = std::clamp(attempt, 0, 40);
  const double ceiling = std::min(static_cast<double>(cap.count()),
                                  static_cast<double>(base.count()) * std::ldexp(1.0, exponent));
  const double unit = std::clamp(random_unit, 0.0, 1.0);
  return Duration(static_cast<Duration::rep>(ceiling * unit));
}

Duration jittered_interval(Duration interval, double fraction, double random_unit) {
  const double unit = std::clamp(random_unit, 0.0, 1.0);
  const double factor = 1.0 + fraction * (2.0 * unit - 1.0);
  return Duration(static_cast<Duration::rep>(static_cast<double>(interval.count()) * factor));
}

}  // namespace smm::limiter
