#include "common/order_id.hpp"

namespace smm {
namespace {

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

void set_reason(std::string* reason, const char* text) {
  if (reason != nullptr) *reason = text;
}

}  // namespace

std::optional<std::string> parse_order_id(std::string_view raw, std::string* reason) {
  while (!raw.empty() && is_ascii_space(raw.front())) raw.remove_prefix(1);
  while (!raw.empty() && is_ascii_space(raw.back())) raw.remove_suffix(1);

  if (raw.empty()) {
    set_reason(reason, "empty payload");
    return std::nullopt;
  }
  if (raw.size() > kMaxOrderIdDigits) {
    set_reason(reason, "id longer than 20 digits");
    return std::nullopt;
  }
  for (char c : raw) {
    if (c < '0' || c > '9') {
      set_reason(reason, "id is not a decimal number");
      return std::nullopt;
    }
  }
  // Provider ids are numbers: "0123" and "123" name the same order, so only
  // the canonical form enters the schedule.
  const auto first_significant = raw.find_first_not_of('0');
  if (first_significant == std::string_view::npos) return std::string("0");
  return std::string(raw.substr(first_significant));
}

}  // namespace smm
