// Fuzz target for smm::parse_order_id: any bytes as a queue payload. The
// result is checked against a plain restatement of the rule: trim ASCII
// whitespace, then 1 to 20 ASCII digits, returned without leading zeros.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/order_id.hpp"
#include "fuzz_check.hpp"

namespace {

using smm::fuzz::require;

bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

bool expected_valid(std::string_view text) {
  if (text.empty() || text.size() > smm::kMaxOrderIdDigits) return false;
  for (char c : text) {
    if (!is_digit(c)) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  std::string reason;
  std::optional<std::string> id = smm::parse_order_id(raw, &reason);

  std::string_view core = trimmed(raw);
  require(id.has_value() == expected_valid(core), "validity matches the 1 to 20 digits rule");
  if (id) {
    std::string_view canonical = core.substr(std::min(core.find_first_not_of('0'), core.size() - 1));
    require(*id == canonical, "a valid id is the trimmed payload without leading zeros");
  } else {
    require(!reason.empty(), "an invalid payload gets a reason");
  }

  // Without a reason pointer the result is the same.
  require(smm::parse_order_id(raw).has_value() == id.has_value(), "the reason pointer is optional");
  return 0;
}
