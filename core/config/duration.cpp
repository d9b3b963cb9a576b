// Duration strings: a whole number followed by one unit ("20ms", "15s",
// "5m", "2h", "30d").

#include <charconv>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "config/config.hpp"
#include "config/detail/text.hpp"

namespace smm::config {
namespace {

struct Unit {
  std::string_view suffix;
  std::int64_t milliseconds;
};

// Largest first, so format_duration picks the largest exact unit.
constexpr Unit kUnits[] = {
    {"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1},
};

const Unit* find_unit(std::string_view suffix) {
  for (const auto& unit : kUnits) {
    if (unit.suffix == suffix) return &unit;
  }
  return nullptr;
}

}  // namespace

namespace detail {

std::optional<ErrorText> read_duration(const std::string& text, Duration& out) {
  if (text.empty()) return error_text("invalid duration '%s': durations need a unit, e.g. \"15s\"", text);

  std::uint64_t amount = 0;
  const char* begin = text.data();
  const char* end = begin + text.size();
  auto [rest, error] = std::from_chars(begin, end, amount);
  if (rest == begin) {
    return error_text("invalid duration '%s': expected a whole number followed by a unit "
                      "(ms, s, m, h or d), e.g. \"15s\"",
                      text);
  }
  if (error == std::errc::result_out_of_range) {
    return error_text("invalid duration '%s': the amount is too large", text);
  }
  if (rest == end) return error_text("invalid duration '%s': durations need a unit, e.g. \"15s\"", text);
  if (*rest == '.' || *rest == ',') {
    return error_text("invalid duration '%s': the amount must be a whole number; use a smaller "
                      "unit, e.g. \"1500ms\"",
                      text);
  }

  std::string_view suffix(rest, static_cast<std::size_t>(end - rest));
  const Unit* unit = find_unit(suffix);
  if (unit == nullptr) {
    return error_text("invalid duration '%s': unknown unit '%s'; use ms, s, m, h or d", text, suffix);
  }

  // The result is held in signed milliseconds, so the product must fit.
  auto limit = static_cast<std::uint64_t>(std::numeric_limits<Duration::rep>::max() /
                                          unit->milliseconds);
  if (amount > limit) return error_text("invalid duration '%s': the amount is too large", text);
  out = Duration(static_cast<Duration::rep>(amount) * unit->milliseconds);
  return std::nullopt;
}


std::string format_duration(Duration duration) {
  const auto count = duration.count();
  if (count == 0) return "0s";
  for (const auto& unit : kUnits) {
    if (count % unit.milliseconds == 0) {
      return fmt::format("{}{}", count / unit.milliseconds, unit.suffix);
    }
  }
  return fmt::format("{}ms", count);  // not reached: every count is a whole number of ms
}

}  // namespace detail

Duration parse_duration(const std::string& text) {
  Duration duration{};
  if (auto problem = detail::read_duration(text, duration)) {
    throw std::invalid_argument(problem->english());
  }
  return duration;
}

}  // namespace smm::config
