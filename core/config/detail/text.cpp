#include "config/detail/text.hpp"

#include <fmt/format.h>

namespace smm::config::detail {
namespace {

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

std::string normalize_status_word(std::string_view word) {
  std::string out;
  out.reserve(word.size());
  bool pending_space = false;
  for (char c : word) {
    if (is_ascii_space(c) || c == '_') {
      pending_space = true;
      continue;
    }
    // A separator is kept only between two words, which also trims both ends.
    if (pending_space && !out.empty()) out.push_back(' ');
    pending_space = false;
    out.push_back(ascii_lower(c));
  }
  return out;
}

std::string toml_quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default:
        if ((c >= '\0' && c < ' ') || c == '\x7f') {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace smm::config::detail
