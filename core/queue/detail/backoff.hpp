#pragma once
// Reconnect delays: exponential growth from `min` to `max` with jitter, so
// instances that lost Redis together do not reconnect in lockstep.

#include <algorithm>
#include <chrono>

namespace smm::queue::detail {

// Returns the delay before reconnect attempt `attempt` (0 for the first
// retry). The base doubles per attempt from `min` and is capped at `max`.
// The delay is half the base plus `unit` (a random draw in [0, 1)) times the
// other half, known as "equal jitter". The result is never below `min` nor
// above `max`.
inline std::chrono::milliseconds reconnect_delay(int attempt, std::chrono::milliseconds min,
                                                 std::chrono::milliseconds max, double unit) {
  // A zero minimum would retry in a busy loop.
  min = std::max(min, std::chrono::milliseconds(1));
  if (max < min) max = min;
  auto base = min;
  for (int i = 0; i < attempt && base < max; ++i) base = std::min(base * 2, max);

  unit = std::clamp(unit, 0.0, 1.0);
  auto half = base.count() / 2;
  auto jittered = half + static_cast<long long>(unit * static_cast<double>(base.count() - half));
  return std::clamp(std::chrono::milliseconds(jittered), min, max);
}

}  // namespace smm::queue::detail
