#pragma once
// A local token bucket that paces requests evenly. Pure: the caller passes
// the current time, so tests drive it with a fake clock.
//
// Tokens accrue at `rate` per second up to `burst`. A grant also keeps at
// least 1/rate between consecutive sends once the bucket is empty, so a
// backlog drains as an even stream instead of bursts at token boundaries.

#include <chrono>

namespace smm::limiter {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket(double rate_per_second, int burst, Clock::time_point now);

  // Takes one token if one is available at `now` and returns zero; else
  // takes nothing and returns how long to wait before asking again.
  Clock::duration try_acquire(Clock::time_point now);

  // Refuses every grant until `until` (a provider's Retry-After).
  void pause_until(Clock::time_point until);
  Clock::time_point paused_until() const { return paused_until_; }

 private:
  void refill(Clock::time_point now);

  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_refill_;
  Clock::time_point paused_until_{};
};

}  // namespace smm::limiter
