#include "store/detail/batch.hpp"

#include <string_view>
#include <unordered_map>

namespace smm::store::detail {
namespace {

// The largest value of each numeric id type, as decimal digits. numeric has
// no practical limit for a 20-digit id.
std::string_view max_digits(IdKind kind) {
  switch (kind) {
    case IdKind::smallint: return "32767";
    case IdKind::integer: return "2147483647";
    case IdKind::bigint: return "9223372036854775807";
    case IdKind::numeric:
    case IdKind::text: break;
  }
  return {};
}

bool all_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool fits(std::string_view digits, std::string_view max) {
  if (max.empty()) return true;
  if (digits.size() != max.size()) return digits.size() < max.size();
  return digits <= max;
}

void append_quoted(std::string& out, std::string_view value) {
  out += '"';
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

}  // namespace

std::optional<std::string> canonical_id(std::string_view id, IdKind kind) {
  if (kind == IdKind::text) {
    if (id.find('\0') != std::string_view::npos) return std::nullopt;
    return std::string(id);
  }
  if (!all_digits(id)) return std::nullopt;

  auto first = id.find_first_not_of('0');
  std::string_view digits = first == std::string_view::npos ? std::string_view("0") : id.substr(first);
  if (!fits(digits, max_digits(kind))) return std::nullopt;
  return std::string(digits);
}

std::string text_array_literal(const std::vector<std::optional<std::string>>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    if (values[i]) {
      append_quoted(out, *values[i]);
    } else {
      out += "NULL";
    }
  }
  out += '}';
  return out;
}

std::string int8_array_literal(const std::vector<std::optional<std::int64_t>>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += values[i] ? std::to_string(*values[i]) : "NULL";
  }
  out += '}';
  return out;
}

BatchParams build_batch(const std::vector<const StatusUpdate*>& updates, IdKind kind,
                        const std::vector<std::string>& final_statuses) {
  BatchParams batch;
  std::vector<std::optional<std::string>> ids;
  std::vector<std::optional<std::string>> statuses;
  std::vector<std::optional<std::int64_t>> start_counts;
  std::vector<std::optional<std::int64_t>> remains;
  std::unordered_map<std::string, std::size_t> index_of_id;

  for (const StatusUpdate* update : updates) {
    auto id = canonical_id(update->id, kind);
    if (!id) {
      batch.position.push_back(0);
      continue;
    }

    auto [it, inserted] = index_of_id.try_emplace(*id, ids.size());
    if (inserted) {
      ids.emplace_back(*id);
      statuses.emplace_back();
      start_counts.emplace_back();
      remains.emplace_back();
    }
    statuses[it->second] = update->status;
    start_counts[it->second] = update->start_count;
    remains[it->second] = update->remains;
    batch.position.push_back(it->second + 1);
  }

  std::vector<std::optional<std::string>> finals(final_statuses.begin(), final_statuses.end());
  batch.params = {text_array_literal(ids), text_array_literal(statuses),
                  int8_array_literal(start_counts), int8_array_literal(remains),
                  text_array_literal(finals)};
  batch.rows = ids.size();
  return batch;
}

std::optional<WriteOutcome> parse_outcome(std::string_view word) {
  if (word == "updated") return WriteOutcome::updated;
  if (word == "unchanged") return WriteOutcome::unchanged;
  if (word == "final_protected") return WriteOutcome::final_protected;
  if (word == "no_row") return WriteOutcome::no_row;
  return std::nullopt;
}

}  // namespace smm::store::detail
