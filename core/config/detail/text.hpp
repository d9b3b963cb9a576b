#pragma once
// Text helpers shared by the loader, the validator and the renderer.

#include <string>
#include <string_view>

#include "config/config.hpp"

namespace smm::config::detail {

// Formats a duration in its largest exact unit: "30d", "2h", "15s", "20ms".
std::string format_duration(Duration duration);

// Normalises a provider status word: trimmed, ASCII lower case, runs of
// whitespace and underscores folded to one space ("In_Progress" -> "in
// progress"). It repeats provider::normalize_status_word, because config
// does not depend on the provider component; the two must stay identical.
std::string normalize_status_word(std::string_view word);

// Quotes `text` as a TOML basic string, escaping quotes, backslashes and
// control characters.
std::string toml_quote(std::string_view text);

}  // namespace smm::config::detail
