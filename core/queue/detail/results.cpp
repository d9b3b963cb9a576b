#include "queue/detail/results.hpp"

#include <cmath>
#include <cstddef>
#include <limits>

#include <rapidjson/document.h>

#include "common/order_id.hpp"

namespace smm::queue::detail {
namespace {

std::optional<int> as_count(const Reply& reply) {
  auto value = as_int(reply);
  if (!value || *value < 0 || *value > std::numeric_limits<int>::max()) return std::nullopt;
  return static_cast<int>(*value);
}

// An earliest-score element: "" when the schedule is empty.
bool read_optional_score(const Reply& reply, std::optional<std::int64_t>* score) {
  if (reply.type == Reply::Type::string && reply.str.empty()) {
    score->reset();
    return true;
  }
  *score = as_score_ms(reply);
  return score->has_value();
}

// The script hands out only canonical ids: 1 to 20 ASCII digits without a
// leading zero (except "0" itself). Checked without allocating, because
// every claim passes here.
bool is_canonical_id(const std::string& id) {
  if (id.empty() || id.size() > kMaxOrderIdDigits) return false;
  for (char c : id) {
    if (c < '0' || c > '9') return false;
  }
  return id.size() == 1 || id.front() != '0';
}

// One claim from four elements of the flat claim list: id, token,
// attempts, failures.
std::optional<Claim> parse_claim(const Reply* fields) {
  if (fields[0].type != Reply::Type::string || !is_canonical_id(fields[0].str)) return std::nullopt;
  auto token = as_int(fields[1]);
  auto attempts = as_count(fields[2]);
  auto failures = as_count(fields[3]);
  if (!token || !attempts || !failures) return std::nullopt;
  return Claim{fields[0].str, *token, *attempts, *failures};
}

}  // namespace

std::optional<DrainResult> parse_drain_reply(const Reply& reply) {
  const auto* fields = as_array(reply, 2);
  if (fields == nullptr) return std::nullopt;
  auto scheduled = as_count((*fields)[0]);
  auto dead = as_count((*fields)[1]);
  if (!scheduled || !dead) return std::nullopt;
  return DrainResult{*scheduled, *dead};
}

std::optional<ClaimReply> parse_claim_reply(const Reply& reply) {
  const auto* fields = as_array(reply, 4);
  if (fields == nullptr || (*fields)[0].type != Reply::Type::array) return std::nullopt;

  const auto& flat = (*fields)[0].elements;
  constexpr std::size_t kClaimFields = 4;
  if (flat.size() % kClaimFields != 0) return std::nullopt;
  ClaimReply out;
  out.result.claims.reserve(flat.size() / kClaimFields);
  for (std::size_t i = 0; i < flat.size(); i += kClaimFields) {
    auto claim = parse_claim(&flat[i]);
    if (!claim) return std::nullopt;
    out.result.claims.push_back(std::move(*claim));
  }

  auto given_up = as_count((*fields)[1]);
  auto invalid = as_count((*fields)[2]);
  if (!given_up || !invalid) return std::nullopt;
  out.result.given_up = *given_up;
  out.invalid = *invalid;

  if (!read_optional_score((*fields)[3], &out.result.next_due_ms)) return std::nullopt;
  return out;
}

std::optional<CompleteReply> parse_complete_reply(const Reply& reply) {
  const auto* fields = as_array(reply, 2);
  if (fields == nullptr) return std::nullopt;
  auto applied = as_count((*fields)[0]);
  auto stale = as_count((*fields)[1]);
  if (!applied || !stale) return std::nullopt;
  return CompleteReply{*applied, *stale};
}

std::optional<Stats> parse_stats_reply(const Reply& reply) {
  const auto* fields = as_array(reply, 7);
  if (fields == nullptr) return std::nullopt;

  auto inbox = as_int((*fields)[0]);
  auto scheduled = as_int((*fields)[1]);
  auto due_now = as_int((*fields)[2]);
  auto leased = as_int((*fields)[4]);
  auto dead = as_int((*fields)[5]);
  auto now = as_int((*fields)[6]);
  std::optional<std::int64_t> earliest;
  if (!inbox || !scheduled || !due_now || !leased || !dead || !now ||
      !read_optional_score((*fields)[3], &earliest)) {
    return std::nullopt;
  }

  Stats stats{*inbox, *scheduled, *due_now, 0.0, *leased, *dead};
  // The earliest score is the oldest due entry only if it is due already.
  if (earliest && *earliest <= *now) {
    stats.oldest_due_age_seconds = static_cast<double>(*now - *earliest) / 1000.0;
  }
  return stats;
}

std::optional<int> parse_count_reply(const Reply& reply) { return as_count(reply); }

namespace {

constexpr double kMillionths = 1e6;

// A factor sent as an integer number of millionths; must lie in (0, 1].
std::optional<double> as_factor(const Reply& reply) {
  auto millionths = as_int(reply);
  if (!millionths || *millionths <= 0 || *millionths > static_cast<std::int64_t>(kMillionths)) {
    return std::nullopt;
  }
  return static_cast<double>(*millionths) / kMillionths;
}

std::optional<std::int64_t> as_non_negative(const Reply& reply) {
  auto value = as_int(reply);
  if (!value || *value < 0) return std::nullopt;
  return value;
}

}  // namespace

std::optional<RateGrant> parse_rate_grant_reply(const Reply& reply) {
  const auto* fields = as_array(reply, 5);
  if (fields == nullptr || (*fields)[0].type != Reply::Type::array) return std::nullopt;

  RateGrant grant;
  for (const auto& element : (*fields)[0].elements) {
    auto offset = as_non_negative(element);
    if (!offset) return std::nullopt;
    grant.slot_offsets_us.push_back(*offset);
  }
  auto wait = as_non_negative((*fields)[1]);
  auto factor = as_factor((*fields)[2]);
  auto pause = as_non_negative((*fields)[3]);
  auto circuit = as_int((*fields)[4]);
  if (!wait || !factor || !pause || !circuit || (*circuit != 0 && *circuit != 1)) return std::nullopt;
  grant.wait_us = *wait;
  grant.rate_factor = *factor;
  grant.pause_remaining_us = *pause;
  grant.circuit_open = *circuit == 1;
  return grant;
}

std::optional<ThrottleResult> parse_throttle_reply(const Reply& reply) {
  const auto* fields = as_array(reply, 3);
  if (fields == nullptr) return std::nullopt;
  auto pause = as_non_negative((*fields)[0]);
  auto factor = as_factor((*fields)[1]);
  auto cut = as_int((*fields)[2]);
  if (!pause || !factor || !cut) return std::nullopt;
  return ThrottleResult{*pause, *factor, *cut == 1};
}

std::optional<bool> parse_circuit_open_reply(const Reply& reply) {
  const auto* fields = as_array(reply, 2);
  if (fields == nullptr) return std::nullopt;
  auto was_closed = as_int((*fields)[0]);
  if (!was_closed) return std::nullopt;
  return *was_closed == 1;
}

std::optional<CircuitState> parse_circuit_check_reply(const Reply& reply) {
  const auto* fields = as_array(reply, 3);
  if (fields == nullptr) return std::nullopt;
  auto kind = as_int((*fields)[0]);
  auto wait = as_non_negative((*fields)[1]);
  auto reason = as_string((*fields)[2]);
  if (!kind || *kind < 0 || *kind > 2 || !wait || !reason) return std::nullopt;
  CircuitState state;
  state.kind = static_cast<CircuitState::Kind>(*kind);
  state.wait_ms = *wait;
  state.reason = std::move(*reason);
  return state;
}

DeadLetter parse_dead_letter(std::string json) {
  DeadLetter letter;
  rapidjson::Document document;
  document.Parse(json.data(), json.size());
  letter.json = std::move(json);
  if (document.HasParseError() || !document.IsObject()) return letter;

  auto payload = document.FindMember("payload");
  if (payload != document.MemberEnd() && payload->value.IsString()) {
    letter.payload.assign(payload->value.GetString(), payload->value.GetStringLength());
  }
  auto reason = document.FindMember("reason");
  if (reason != document.MemberEnd() && reason->value.IsString()) {
    letter.reason.assign(reason->value.GetString(), reason->value.GetStringLength());
  }
  auto at = document.FindMember("at");
  if (at != document.MemberEnd()) {
    if (at->value.IsInt64()) {
      letter.at_ms = at->value.GetInt64();
    } else if (at->value.IsNumber() && std::isfinite(at->value.GetDouble()) &&
               std::fabs(at->value.GetDouble()) < 9.2e18) {
      letter.at_ms = static_cast<std::int64_t>(at->value.GetDouble());
    }
  }
  return letter;
}

}  // namespace smm::queue::detail
