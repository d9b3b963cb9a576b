#pragma once
// Retry delays. Pure functions of the attempt number and a random value in
// [0, 1), so tests pass fixed values instead of a random generator.

#include <chrono>

namespace smm::limiter {

using Duration = std::chrono::milliseconds;

// Exponential backoff with full jitter: a uniform delay in
// [0, min(cap, base * 2^attempt)). `attempt` counts from 0.
Duration full_jitter_backoff(Duration base, Duration cap, int attempt, double random_unit);

// `interval` spread by +/- `fraction` so that ids enqueued together do not
// stay due together: interval * (1 + fraction * (2 * random_unit - 1)).
Duration jittered_interval(Duration interval, double fraction, double random_unit);

}  // namespace smm::limiter
