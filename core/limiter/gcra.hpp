#pragma once
// The generic cell rate algorithm (GCRA) with reservations, on a caller's
// clock, so tests drive it with a fake one. The Redis script RATE_ACQUIRE
// (queue/detail/scripts.hpp) runs the same arithmetic on shared state; this
// class is the local fallback used while Redis is unreachable.
//
// State is the theoretical arrival time (TAT). A request at `s` conforms
// when s >= TAT - tolerance, and then TAT = max(TAT, s) + interval. A
// reservation takes the earliest conforming time, which may lie ahead, so
// the caller sends at that time and sends are spaced by `interval` once the
// tolerance (the burst) is used up.

#include <chrono>
#include <optional>

namespace smm::limiter {

using Micros = std::chrono::microseconds;

// The tolerance that lets `burst` requests through at once at `rate_limit`
// per second, less `margin`: a request granted at one instant may reach the
// provider a little later than another, and the margin keeps such spread
// inside the provider's own tolerance. Never negative.
Micros burst_tolerance(double rate_limit, int burst, Micros margin);

// The rate actually aimed at: `rate_limit` less the `headroom` fraction, so
// small clock and send-time differences stay under the provider's limit.
double target_rate(double rate_limit, double headroom);

class Gcra {
 public:
  Gcra(double rate_per_second, Micros tolerance);

  // Changes the rate for later reservations (backoff after throttling).
  void set_rate(double rate_per_second);

  // Reserves the earliest conforming time if it is at most `lookahead`
  // after `now`, and returns its offset from `now`; otherwise reserves
  // nothing and returns nullopt.
  std::optional<Micros> reserve(Micros now, Micros lookahead);

  // Time from `now` until a reservation with `lookahead` succeeds; zero when
  // one would succeed now.
  Micros wait_for_slot(Micros now, Micros lookahead) const;

 private:
  double interval_us_;
  double tolerance_us_;
  double tat_us_ = 0;
};

}  // namespace smm::limiter
