#pragma once
// Turns script replies into the queue's result types. A reply of any other
// shape yields std::nullopt (the caller reports errc::redis_protocol).

#include <optional>
#include <string>

#include "queue/detail/reply.hpp"
#include "queue/queue.hpp"

namespace smm::queue::detail {

struct ClaimReply {
  ClaimResult result;
  int invalid = 0;   // schedule members that were not ids, moved to the dead list
};

struct CompleteReply {
  int applied = 0;
  int stale = 0;
};

std::optional<DrainResult> parse_drain_reply(const Reply& reply);
std::optional<ClaimReply> parse_claim_reply(const Reply& reply);
std::optional<CompleteReply> parse_complete_reply(const Reply& reply);
std::optional<Stats> parse_stats_reply(const Reply& reply);
std::optional<int> parse_count_reply(const Reply& reply);
std::optional<RateGrant> parse_rate_grant_reply(const Reply& reply);
std::optional<ThrottleResult> parse_throttle_reply(const Reply& reply);
std::optional<bool> parse_circuit_open_reply(const Reply& reply);
std::optional<CircuitState> parse_circuit_check_reply(const Reply& reply);

// Reads payload, reason and at from a dead-list entry. Entries are written
// by other tools too, so a field that is missing or of another type is left
// empty (and `json` always contains the entry as stored).
DeadLetter parse_dead_letter(std::string json);

}  // namespace smm::queue::detail
