// Password removal from Redis URLs and libpq connection strings, so they can
// be logged and printed by check-config.

#include <string>
#include <string_view>

#include "config/config.hpp"

namespace smm::config {
namespace {

constexpr std::string_view kMark = "[redacted]";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool is_scheme_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '-' || c == '.';
}

// Returns the position of "://" when `text` starts with a URI scheme.
std::size_t scheme_end(std::string_view text) {
  auto pos = text.find("://");
  if (pos == std::string_view::npos || pos == 0) return std::string_view::npos;
  for (std::size_t i = 0; i < pos; ++i) {
    if (!is_scheme_char(text[i])) return std::string_view::npos;
  }
  return pos;
}

// Replaces the value of every "password=" query parameter after `from`.
std::string redact_query_password(std::string text, std::size_t from) {
  auto query = text.find('?', from);
  if (query == std::string::npos) return text;
  std::size_t param = query + 1;
  while (param < text.size()) {
    auto end = text.find_first_of("&#", param);
    if (end == std::string::npos) end = text.size();
    constexpr std::string_view kName = "password=";
    if (std::string_view(text).substr(param, end - param).starts_with(kName)) {
      auto value = param + kName.size();
      text.replace(value, end - value, kMark);
      end = value + kMark.size();
    }
    if (end >= text.size() || text[end] == '#') break;
    param = end + 1;
  }
  return text;
}

// URI form: scheme://[user[:password]@]host... The last '@' ends the user
// part, because an unencoded password may itself contain '@' or '/'. A '@'
// later in the query makes this redact more than the password, never less.
std::string redact_uri(std::string text, std::size_t scheme) {
  const auto authority = scheme + 3;
  auto at = text.rfind('@');
  if (at == std::string::npos || at < authority) return redact_query_password(std::move(text), authority);

  auto colon = text.find(':', authority);
  if (colon < at) {
    text.replace(colon + 1, at - colon - 1, kMark);
    at = colon + 1 + kMark.size();
  }
  return redact_query_password(std::move(text), at + 1);
}

// Reads a conninfo value at `pos`: single-quoted with backslash escapes, or
// unquoted up to whitespace. Returns the end position, or npos when a quote
// is not closed.
std::size_t conninfo_value_end(std::string_view text, std::size_t pos) {
  const bool quoted = pos < text.size() && text[pos] == '\'';
  std::size_t i = quoted ? pos + 1 : pos;
  while (i < text.size()) {
    if (text[i] == '\\') {
      i += 2;
      continue;
    }
    if (quoted && text[i] == '\'') return i + 1;
    if (!quoted && is_space(text[i])) return i;
    ++i;
  }
  return quoted ? std::string_view::npos : text.size();
}

// libpq keyword/value form: "host=db password='x y' dbname=panel".
std::string redact_conninfo(std::string_view text) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (is_space(text[i])) {
      out.push_back(text[i++]);
      continue;
    }
    auto keyword_end = text.find_first_of("= \t\n\r\f\v", i);
    auto equals = keyword_end == std::string_view::npos ? keyword_end : text.find_first_not_of(" \t\n\r\f\v", keyword_end);
    if (equals == std::string_view::npos || text[equals] != '=') break;
    auto value = text.find_first_not_of(" \t\n\r\f\v", equals + 1);
    if (value == std::string_view::npos) value = text.size();
    auto value_end = conninfo_value_end(text, value);
    if (value_end == std::string_view::npos) break;

    out.append(text.substr(i, value - i));
    bool is_password = text.substr(i, keyword_end - i) == "password";
    out.append(is_password ? kMark : text.substr(value, value_end - value));
    i = value_end;
  }
  if (i < text.size()) {
    // libpq rejects such a string anyway. What follows the parse error may
    // still hold a password, so none of it is shown.
    out.append(kMark);
  }
  return out;
}

}  // namespace

std::string redact_password(const std::string& url_or_conninfo) {
  auto scheme = scheme_end(url_or_conninfo);
  if (scheme != std::string_view::npos) return redact_uri(url_or_conninfo, scheme);
  return redact_conninfo(url_or_conninfo);
}

}  // namespace smm::config
