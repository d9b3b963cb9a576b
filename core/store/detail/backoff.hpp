#pragma once
// Reconnect delays: exponential growth from `min`, capped at `max`, with
// full jitter so instances that lost PostgreSQL together do not return
// together.

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace smm::store::detail {

// `unit_random` is uniform in [0, 1), injected so tests need no real
// randomness. The delay is min + unit_random * (ceiling - min), where the
// ceiling is min * 2^(attempt + 1) capped at `max`. `attempt` counts from 0,
// so even the first retry after a shared outage is spread out.
inline std::chrono::milliseconds reconnect_delay(int attempt, std::chrono::milliseconds min,
                                                 std::chrono::milliseconds max,
                                                 double unit_random) {
  if (max <= min) return min;
  auto ceiling = min;
  for (int i = 0; i <= attempt && ceiling < max; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, max);
  auto spread = static_cast<double>((ceiling - min).count()) * unit_random;
  return min + std::chrono::milliseconds(static_cast<std::int64_t>(spread));
}

}  // namespace smm::store::detail
