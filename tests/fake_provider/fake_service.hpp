#pragma once
// The fake provider's request handling, apart from the HTTP transport:
// routes, fault injection, per-id progression and counters. Single-threaded:
// every call must come from the one thread that runs the event loop.

#include <array>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>

#include "options.hpp"
#include "provider_model.hpp"

namespace smm::fake {

using Clock = std::chrono::steady_clock;

// One HTTP response, before the transport writes it.
struct Reply {
  unsigned status = 200;
  std::string_view content_type = "application/json";
  std::string body;
  std::int64_t retry_after_s = -1;  // no Retry-After header when negative
  std::chrono::milliseconds delay{0};
};

// Counters served by GET /stats. `rejected` counts every response:false
// body, so it includes `auth_failures` and `not_found`. `malformed` counts
// every HTTP 200 whose body is not a whole status response (truncated,
// empty, PHP warning first, or 2 MiB long).
struct Counters {
  std::uint64_t requests = 0;
  std::uint64_t status_requests = 0;
  std::uint64_t ok = 0;
  std::uint64_t rejected = 0;
  std::uint64_t auth_failures = 0;
  std::uint64_t not_found = 0;
  std::uint64_t unknown_status = 0;
  std::uint64_t http_429 = 0;
  std::uint64_t http_5xx = 0;
  std::uint64_t html = 0;
  std::uint64_t malformed = 0;
  std::uint64_t slow = 0;
  std::uint64_t chaos = 0;
  std::uint64_t violations = 0;
};

// Requests in the last second, in ten 100 ms slots.
class RateWindow {
 public:
  void add(Clock::time_point now);
  std::uint64_t rate(Clock::time_point now);

 private:
  void advance(std::int64_t slot);
  std::array<std::uint64_t, 10> counts_{};
  std::int64_t last_slot_ = 0;
};

// Server-side limit by GCRA: `burst` requests may arrive at once, then one
// per 1/rate seconds.
class Gcra {
 public:
  void configure(double rate_per_second, std::int64_t burst);
  bool allow(Clock::time_point now);

 private:
  Clock::duration interval_{0};
  Clock::duration tolerance_{0};
  Clock::time_point theoretical_arrival_{};
};

class FakeService {
 public:
  explicit FakeService(Options options);

  Reply handle(std::string_view method, std::string_view target, std::string_view body, Clock::time_point now);
  void connection_opened();
  void connection_closed();
  // Records the User-Agent of a status request, shown as last_user_agent in /stats.
  void note_user_agent(std::string_view user_agent);

 private:
  enum class Quirk;
  struct Semantic;

  Reply status_request(std::string_view body, Clock::time_point now);
  Reply fault_by_rate();
  Reply transport_quirk(Quirk quirk, const Semantic& semantic);
  Semantic semantic_answer(std::string_view body, Quirk quirk, bool commit);
  void count_semantic(const Semantic& semantic);
  std::chrono::milliseconds answer_delay();
  Quirk pick_quirk();
  bool chance(double probability);

  Reply stats(Clock::time_point now);
  Reply truth(std::string_view query) const;
  Reply control(std::string_view body);
  std::string settings_json() const;

  Options options_;
  Counters counters_;
  std::unordered_map<std::string, std::uint32_t> answers_by_id_;
  std::mt19937_64 random_;
  RateWindow rate_window_;
  Gcra limiter_;
  std::uint64_t open_connections_ = 0;
  std::uint64_t max_concurrent_ = 0;
  std::string last_user_agent_;
};

}  // namespace smm::fake
