#include "provider/status_parser.hpp"

#include <charconv>
#include <cmath>
#include <cstddef>

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace smm::provider {
namespace {

// The DOM and the parser's stack live in fixed buffers on the C++ stack, so a
// typical answer (a few hundred bytes) parses without touching the heap.
// Larger bodies spill into heap chunks owned by the allocators.
constexpr std::size_t kValueArenaBytes = 8 * 1024;
constexpr std::size_t kStackArenaBytes = 2 * 1024;

using Allocator = rapidjson::MemoryPoolAllocator<>;
using Document = rapidjson::GenericDocument<rapidjson::UTF8<>, Allocator, Allocator>;
using Value = Document::ValueType;

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
constexpr std::string_view kNoMessage = "provider rejected the request without a message";

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char to_ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_ascii_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_ascii_space(text.back())) text.remove_suffix(1);
  return text;
}

bool equals_ignoring_case(std::string_view text, std::string_view lower_word) {
  if (text.size() != lower_word.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (to_ascii_lower(text[i]) != lower_word[i]) return false;
  }
  return true;
}

bool starts_with_ignoring_case(std::string_view text, std::string_view lower_prefix) {
  return text.size() >= lower_prefix.size() &&
         equals_ignoring_case(text.substr(0, lower_prefix.size()), lower_prefix);
}

// Drops leading whitespace and UTF-8 byte-order marks. A PHP site emits one
// BOM per included file saved with one, so there can be several.
std::string_view skip_leading_noise(std::string_view body) {
  for (;;) {
    body = trim(body);
    if (body.substr(0, kUtf8Bom.size()) != kUtf8Bom) return body;
    body.remove_prefix(kUtf8Bom.size());
  }
}

// True when `text` starts like PHP diagnostic output printed ahead of the
// JSON: "Warning:", "Notice:", "Deprecated:", "Strict Standards:", the same
// with a "PHP " prefix, or the HTML form ("<br />\n<b>Warning</b>: ...").
// An HTML page ("<!DOCTYPE", "<html") does not match, because a '{' inside
// its scripts or styles is not the answer.
bool looks_like_php_diagnostic(std::string_view text) {
  constexpr std::string_view kPrefixes[] = {
      "warning:", "notice:", "deprecated:", "strict standards:", "php ", "<br />", "<br/>",
      "<br>",     "<b>"};
  for (std::string_view prefix : kPrefixes) {
    if (starts_with_ignoring_case(text, prefix)) return true;
  }
  return false;
}

// Finds where the JSON starts after a PHP diagnostic: the first '{' at the
// start of a line (PHP ends each diagnostic with a newline), else the first
// '{' anywhere. Returns `text` unchanged when there is no '{'.
std::string_view skip_php_diagnostic(std::string_view text) {
  for (std::size_t newline = text.find('\n'); newline != std::string_view::npos;
       newline = text.find('\n', newline + 1)) {
    // Skip blanks and BOMs within this line only: crossing into the next
    // lines here would rescan them at every newline, quadratic on bodies
    // made of many short blank lines.
    std::size_t start = newline + 1;
    while (start < text.size()) {
      if (text[start] == ' ' || text[start] == '\t' || text[start] == '\r') {
        ++start;
      } else if (text.substr(start, kUtf8Bom.size()) == kUtf8Bom) {
        start += kUtf8Bom.size();
      } else {
        break;
      }
    }
    if (start < text.size() && text[start] == '{') return text.substr(start);
  }
  std::size_t brace = text.find('{');
  return brace == std::string_view::npos ? text : text.substr(brace);
}

// The length of the UTF-8 sequence that `lead` starts; 1 for ASCII and for
// bytes that cannot start a sequence.
std::size_t utf8_sequence_length(unsigned char lead) {
  if (lead >= 0xF0U) return 4;
  if (lead >= 0xE0U) return 3;
  if (lead >= 0xC0U) return 2;
  return 1;
}

bool is_utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0U) == 0x80U; }

// Shortens a cut of `body` to `length` bytes so that it does not end inside
// a UTF-8 sequence.
std::size_t utf8_safe_length(std::string_view body, std::size_t length) {
  if (length >= body.size()) return length;

  std::size_t continuation = 0;
  while (continuation < 3 && continuation < length &&
         is_utf8_continuation(body[length - 1 - continuation])) {
    ++continuation;
  }
  if (continuation == length) return length;

  auto lead = static_cast<unsigned char>(body[length - 1 - continuation]);
  if (utf8_sequence_length(lead) > continuation + 1) return length - continuation - 1;
  return length;
}

// The first kSnippetBytes of the body for a log line: control bytes become
// spaces, and a UTF-8 sequence cut at the end is dropped.
std::string make_snippet(std::string_view body) {
  std::size_t length = utf8_safe_length(body, std::min(body.size(), kSnippetBytes));

  std::string snippet(body.substr(0, length));
  for (char& c : snippet) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20U || byte == 0x7FU) c = ' ';
  }
  return snippet;
}

MalformedAnswer malformed(std::string reason, std::string_view body) {
  return MalformedAnswer{std::move(reason), make_snippet(body)};
}

const Value* find_member(const Value& object, const char* key) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(key);
  return it == object.MemberEnd() ? nullptr : &it->value;
}

// Reads a success flag: true, "true", 1 and "1" are true; false, "false", 0
// and "0" are false. Anything else (a status word, null, 2) is not a flag.
std::optional<bool> read_flag(const Value& value) {
  if (value.IsBool()) return value.GetBool();
  if (value.IsInt64()) {
    if (value.GetInt64() == 1) return true;
    if (value.GetInt64() == 0) return false;
    return std::nullopt;
  }
  if (!value.IsString()) return std::nullopt;

  std::string_view text = trim({value.GetString(), value.GetStringLength()});
  if (equals_ignoring_case(text, "true") || text == "1") return true;
  if (equals_ignoring_case(text, "false") || text == "0") return false;
  return std::nullopt;
}

// CentralSMM names the flag `response`, and sibling scripts use `status` or
// `result`. The first of them whose value is a flag decides, so a `status`
// that is a status word does not count.
std::optional<bool> success_flag(const Value& root) {
  for (const char* key : {"response", "status", "result"}) {
    const Value* value = find_member(root, key);
    if (value == nullptr) continue;
    if (std::optional<bool> flag = read_flag(*value)) return flag;
  }
  return std::nullopt;
}

std::optional<std::int64_t> count_from_double(double value) {
  // 2^63 as a double; the int64 range is [-2^63, 2^63).
  constexpr double kLimit = 9223372036854775808.0;
  if (!std::isfinite(value) || value != std::trunc(value)) return std::nullopt;
  if (value < -kLimit || value >= kLimit) return std::nullopt;
  return static_cast<std::int64_t>(value);
}

// Accepts an optional sign, decimal digits and an optional fraction of zeros
// ("12", " -2 ", "+5", "12.0"). A real fraction ("0.27819"), an exponent, a
// word ("Unknown") or a value outside int64 is not a count.
std::optional<std::int64_t> parse_count_text(std::string_view text) {
  text = trim(text);
  if (!text.empty() && text.front() == '+') {
    text.remove_prefix(1);
    if (!text.empty() && text.front() == '-') return std::nullopt;
  }

  std::int64_t number = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (error != std::errc{}) return std::nullopt;

  std::string_view rest(end, static_cast<std::size_t>(text.data() + text.size() - end));
  if (rest.empty()) return number;
  if (rest.front() != '.') return std::nullopt;
  rest.remove_prefix(1);
  if (rest.find_first_not_of('0') != std::string_view::npos) return std::nullopt;
  return number;
}

// A count the provider reported, or nullopt for "not reported": missing,
// null, "", "Unknown", a fraction, a value outside int64, or any other type.
std::optional<std::int64_t> read_count(const Value* value) {
  if (value == nullptr) return std::nullopt;
  if (value->IsInt64()) return value->GetInt64();
  if (value->IsUint64()) return std::nullopt;  // above INT64_MAX
  if (value->IsDouble()) return count_from_double(value->GetDouble());
  if (value->IsString()) return parse_count_text({value->GetString(), value->GetStringLength()});
  return std::nullopt;
}

std::string json_text(const Value& value) {
  // kWriteNanAndInfFlag: a number too large for a double parses as infinity,
  // which the default writer refuses to print, leaving an empty message.
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>,
                    rapidjson::CrtAllocator, rapidjson::kWriteNanAndInfFlag>
      writer(buffer);
  value.Accept(writer);
  return {buffer.GetString(), buffer.GetSize()};
}

// A message candidate: a non-empty string as is, an object, array or number
// as its JSON text. Null, "" and booleans carry no message.
std::optional<std::string> message_text(const Value* value) {
  if (value == nullptr || value->IsNull() || value->IsBool()) return std::nullopt;
  if (value->IsString()) {
    if (value->GetStringLength() == 0) return std::nullopt;
    return std::string(value->GetString(), value->GetStringLength());
  }
  return json_text(*value);
}

// The provider's reason: data.msg, data.pesan, then top-level msg, message
// and error, then `data` itself when it is a bare string.
Rejection make_rejection(const Value& root) {
  const Value* data = find_member(root, "data");
  const Value* candidates[] = {
      data ? find_member(*data, "msg") : nullptr,
      data ? find_member(*data, "pesan") : nullptr,
      find_member(root, "msg"),
      find_member(root, "message"),
      find_member(root, "error"),
      (data && data->IsString()) ? data : nullptr,
  };
  for (const Value* candidate : candidates) {
    if (std::optional<std::string> text = message_text(candidate)) return Rejection{*text};
  }
  return Rejection{std::string(kNoMessage)};
}

// `{"error": "..."}` without a success flag is the API v2 family's refusal.
// `"error": false` or null means no error, so it does not count.
bool has_top_level_error(const Value& root) {
  const Value* error = find_member(root, "error");
  if (error == nullptr || error->IsNull()) return false;
  if (error->IsBool()) return error->GetBool();
  return !(error->IsString() && error->GetStringLength() == 0);
}

ParseResult make_report(const Value& root, std::string_view body) {
  const Value* data = find_member(root, "data");
  const Value* status = data ? find_member(*data, "status") : nullptr;
  if (status == nullptr || !status->IsString()) return malformed("no status word", body);

  std::string word = normalize_status_word({status->GetString(), status->GetStringLength()});
  if (word.empty()) return malformed("no status word", body);

  return StatusReport{std::move(word), read_count(find_member(*data, "start_count")),
                      read_count(find_member(*data, "remains"))};
}

ParseResult interpret(const Value& root, std::string_view body) {
  if (!root.IsObject()) return malformed("not a JSON object", body);

  std::optional<bool> flag = success_flag(root);
  if (flag == true) return make_report(root, body);
  if (flag == false || has_top_level_error(root)) return make_rejection(root);
  return malformed("no success flag", body);
}

}  // namespace

ParseResult parse_status_answer(std::string_view body) {
  std::string_view text = skip_leading_noise(body);
  if (text.empty()) return malformed("empty body", body);
  if (looks_like_php_diagnostic(text)) text = skip_php_diagnostic(text);

  alignas(std::max_align_t) char value_arena[kValueArenaBytes];
  alignas(std::max_align_t) char stack_arena[kStackArenaBytes];
  Allocator value_allocator(value_arena, sizeof value_arena);
  Allocator stack_allocator(stack_arena, sizeof stack_arena);
  Document document(&value_allocator, sizeof stack_arena / 2, &stack_allocator);

  // Iterative parsing keeps deeply nested garbage from exhausting the stack.
  document.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (document.HasParseError()) {
    auto offset = static_cast<std::size_t>(text.data() - body.data()) + document.GetErrorOffset();
    return malformed(fmt::format("not JSON: {} (at byte {})",
                                 rapidjson::GetParseError_En(document.GetParseError()), offset),
                     body);
  }
  return interpret(document, body);
}

std::string normalize_status_word(std::string_view word) {
  std::string normalized;
  normalized.reserve(word.size());
  bool pending_space = false;
  for (char c : word) {
    if (is_ascii_space(c) || c == '_') {
      pending_space = true;
      continue;
    }
    if (pending_space && !normalized.empty()) normalized.push_back(' ');
    pending_space = false;
    normalized.push_back(to_ascii_lower(c));
  }
  return normalized;
}

}  // namespace smm::provider
