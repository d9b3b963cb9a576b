#pragma once
// Text helpers shared by the loader, the validator and the renderer.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>

#include "config/config.hpp"
#include "config/error_text.hpp"

namespace smm::config::detail {

// An English error template, checked when compiling: its only directives
// are %s, one per argument, and %%. A template that fails the check makes
// the call to error_text() fail to compile.
template <std::size_t ArgCount>
struct ErrorTemplate {
  const char* text;

  // Implicit, so error_text() takes a string literal.
  consteval ErrorTemplate(const char* format) : text(format) {
    std::size_t directives = 0;
    for (const char* c = format; *c != '\0'; ++c) {
      if (*c != '%') continue;
      ++c;
      if (*c == 's') {
        ++directives;
      } else if (*c != '%') {
        throw "an error template may contain only %s and %% directives";
      }
    }
    if (directives != ArgCount) throw "an error template needs one %s per argument";
  }
};

// Builds an ErrorText, formatting each argument as fmt's "{}" does.
// po/catalog extracts the template of every error_text() call into the
// message catalog, so pass it as a string literal at the call.
template <typename... Args>
ErrorText error_text(std::type_identity_t<ErrorTemplate<sizeof...(Args)>> format, const Args&... args) {
  return ErrorText{format.text, {fmt::to_string(args)...}};
}

// Parses a duration string as parse_duration does into `out`. Returns the
// problem instead of throwing, or nullopt on success.
std::optional<ErrorText> read_duration(const std::string& text, Duration& out);

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
