#pragma once
// Provider order ids as they travel through the queue: a decimal string of
// 1 to 20 digits. Twenty digits can exceed int64, so ids stay strings.

#include <optional>
#include <string>
#include <string_view>

namespace smm {

inline constexpr std::size_t kMaxOrderIdDigits = 20;

// Trims surrounding ASCII whitespace and checks for 1..20 ASCII digits.
// Returns the id without leading zeros ("0042" -> "42"), or std::nullopt
// with `reason` set to why it is invalid.
std::optional<std::string> parse_order_id(std::string_view raw, std::string* reason = nullptr);

}  // namespace smm
