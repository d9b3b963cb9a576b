#include "log/detail/line_formatter.hpp"

#include <chrono>
#include <ctime>
#include <iterator>
#include <string_view>

#include <fmt/format.h>

namespace smm::log::detail {
namespace {

using Buffer = spdlog::memory_buf_t;

std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    case spdlog::level::off:
    case spdlog::level::n_levels: break;
  }
  return "off";
}

// Syslog priorities, as sd-daemon(3) reads them from a "<N>" line prefix.
int journald_priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug: return 7;
    case spdlog::level::info: return 6;
    case spdlog::level::warn: return 4;
    case spdlog::level::err: return 3;
    default: return 2;
  }
}

void append(Buffer& dest, std::string_view text) { dest.append(text.data(), text.data() + text.size()); }

// ISO 8601 in UTC with milliseconds: 2026-12-04T20:31:05.123Z.
void append_timestamp(Buffer& dest, spdlog::log_clock::time_point time) {
  using std::chrono::duration_cast;
  const auto since_epoch = duration_cast<std::chrono::milliseconds>(time.time_since_epoch());
  const std::time_t seconds = static_cast<std::time_t>(since_epoch.count() / 1000);
  const auto millis = since_epoch.count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  fmt::format_to(std::back_inserter(dest), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900,
                 utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, millis);
}

// Text lines stay one line each: a line break inside a message (a provider
// error text, say) is written as \n, so it cannot start a forged line.
void append_text_escaped(Buffer& dest, std::string_view text) {
  for (char c : text) {
    if (c == '\n') {
      append(dest, "\\n");
    } else if (c == '\r') {
      append(dest, "\\r");
    } else if ((c >= '\0' && c < ' ' && c != '\t') || c == '\x7f') {
      fmt::format_to(std::back_inserter(dest), "\\x{:02x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
    } else {
      dest.push_back(c);
    }
  }
}

// Length of the valid UTF-8 sequence at the start of `text`, or 0 when the
// bytes are not valid UTF-8 (overlong forms and surrogates included).
std::size_t utf8_sequence_length(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  std::size_t length = 0;
  unsigned char second_min = 0x80;
  unsigned char second_max = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) second_min = 0xA0;
    if (lead == 0xED) second_max = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) second_min = 0x90;
    if (lead == 0xF4) second_max = 0x8F;
  } else {
    return 0;
  }
  if (text.size() < length || byte(1) < second_min || byte(1) > second_max) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}

// A JSON string value. Bytes that are not valid UTF-8 (a message may quote
// any provider bytes) become U+FFFD, so every line stays valid JSON.
void append_json_string(Buffer& dest, std::string_view text) {
  dest.push_back('"');
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const auto length = utf8_sequence_length(text.substr(i));
      if (length == 0) {
        append(dest, "\\ufffd");
        ++i;
      } else {
        append(dest, text.substr(i, length));
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"': append(dest, "\\\""); break;
      case '\\': append(dest, "\\\\"); break;
      case '\n': append(dest, "\\n"); break;
      case '\r': append(dest, "\\r"); break;
      case '\t': append(dest, "\\t"); break;
      default:
        if (c < 0x20 || c == 0x7f) {
          fmt::format_to(std::back_inserter(dest), "\\u{:04x}", static_cast<unsigned>(c));
        } else {
          dest.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  dest.push_back('"');
}

std::string_view to_view(spdlog::string_view_t text) { return {text.data(), text.size()}; }

}  // namespace

void LineFormatter::format(const spdlog::details::log_msg& msg, Buffer& dest) {
  const auto payload = to_view(msg.payload);
  const auto component = to_view(msg.logger_name);
  if (journald_) fmt::format_to(std::back_inserter(dest), "<{}>", journald_priority(msg.level));

  if (format_ == Format::text) {
    if (!journald_) {
      append_timestamp(dest, msg.time);
      fmt::format_to(std::back_inserter(dest), " {} ", level_name(msg.level));
    }
    append(dest, component);
    dest.push_back(' ');
    append_text_escaped(dest, payload);
    dest.push_back('\n');
    return;
  }

  dest.push_back('{');
  if (!journald_) {
    append(dest, "\"ts\":\"");
    append_timestamp(dest, msg.time);
    append(dest, "\",");
  }
  append(dest, "\"level\":");
  append_json_string(dest, level_name(msg.level));
  append(dest, ",\"component\":");
  append_json_string(dest, component);
  append(dest, ",\"event\":");
  append_json_string(dest, payload.substr(0, payload.find(' ')));
  append(dest, ",\"msg\":");
  append_json_string(dest, payload);
  append(dest, "}\n");
}

std::unique_ptr<spdlog::formatter> LineFormatter::clone() const {
  return std::make_unique<LineFormatter>(format_, journald_);
}

}  // namespace smm::log::detail
