#include "limiter/gcra.hpp"

#include <algorithm>
#include <cmath>

namespace smm::limiter {
namespace {

constexpr double kMicrosPerSecond = 1e6;

double interval_us(double rate_per_second) {
  // Config validation keeps rates positive; a zero rate would divide by zero.
  return kMicrosPerSecond / std::max(rate_per_second, 1e-9);
}

}  // namespace

Micros burst_tolerance(double rate_limit, int burst, Micros margin) {
  const double full = static_cast<double>(std::max(burst, 1) - 1) * interval_us(rate_limit);
  const double reduced = full - static_cast<double>(margin.count());
  return Micros(static_cast<Micros::rep>(std::max(reduced, 0.0)));
}

double target_rate(double rate_limit, double headroom) {
  return rate_limit * (1.0 - std::clamp(headroom, 0.0, 1.0));
}

Gcra::Gcra(double rate_per_second, Micros tolerance)
    : interval_us_(interval_us(rate_per_second)),
      tolerance_us_(static_cast<double>(std::max<Micros::rep>(tolerance.count(), 0))) {}

void Gcra::set_rate(double rate_per_second) { interval_us_ = interval_us(rate_per_second); }

std::optional<Micros> Gcra::reserve(Micros now, Micros lookahead) {
  const double now_us = static_cast<double>(now.count());
  const double slot = std::max(now_us, tat_us_ - tolerance_us_);
  if (slot - now_us > static_cast<double>(lookahead.count())) return std::nullopt;
  tat_us_ = std::max(tat_us_, now_us) + interval_us_;
  return Micros(static_cast<Micros::rep>(std::floor(slot - now_us)));
}

Micros Gcra::wait_for_slot(Micros now, Micros lookahead) const {
  const double wait = tat_us_ - tolerance_us_ - static_cast<double>(now.count()) -
                      static_cast<double>(lookahead.count());
  return Micros(static_cast<Micros::rep>(std::ceil(std::max(wait, 0.0))));
}

}  // namespace smm::limiter
