#pragma once
// What the fake CentralSMM provider sends, without any I/O: the
// deterministic status progression of an order id, form decoding, and the
// JSON and HTML bodies (plain and with the quirks real providers show).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smm::fake {

// 64-bit FNV-1a; the order id's hash drives every value of its progression.
std::uint64_t fnv1a64(std::string_view text);

// The state shown by one well-formed status response.
struct OrderState {
  std::string_view status;  // canonical word, e.g. "Pending"
  std::int64_t start_count = 0;
  std::int64_t remains = 0;
  bool final = false;
};

// The state of `id` in its well-formed response number `answer` (1, 2, ...).
// Responses at or after `polls_to_final` (at least 1) show the final state.
OrderState order_state(std::string_view id, std::uint32_t answer, std::uint32_t polls_to_final);

// The state that ids starting with "555" always show: a status word the
// daemon does not know, so the id never becomes final.
OrderState unknown_word_state(std::string_view id);

// Ids with this prefix are answered "order not found"; with kUnknownWordPrefix
// they get unknown_word_state().
inline constexpr std::string_view kNotFoundPrefix = "404";
inline constexpr std::string_view kUnknownWordPrefix = "555";

// Decodes %XX and '+' of an application/x-www-form-urlencoded value. A
// malformed %-sequence is kept as it is.
std::string percent_decode(std::string_view text);

// Splits a form body or query string into decoded (name, value) pairs.
std::vector<std::pair<std::string, std::string>> parse_form(std::string_view body);

// How a success answer is spelled. Default: the plain CentralSMM shape.
enum class StatusSpelling { canonical, upper_padded, lower, underscored };
struct AnswerStyle {
  bool numbers_as_strings = false;
  bool start_count_null = false;
  bool start_count_missing = false;
  StatusSpelling spelling = StatusSpelling::canonical;
  bool extra_fields = false;
};

// {"response":true,"data":{"id":..,"price":23000,"status":..,"start_count":..,"remains":..}}
std::string render_success(std::string_view id, const OrderState& state, const AnswerStyle& style);
// {"response":false,"data":{"msg":"<message>"}}
std::string render_failure(std::string_view message);
// The answer of GET /truth for `id` after `answers` well-formed answers.
std::string render_truth(std::string_view id, std::uint32_t answers, std::uint32_t polls_to_final);

// Appends `text` as a JSON string literal, quotes included.
void append_json_string(std::string& out, std::string_view text);
void append_json_number(std::string& out, std::int64_t value);

// Provider messages, as CentralSMM sends them.
inline constexpr std::string_view kMessageBadCredentials = "API Key salah";
inline constexpr std::string_view kMessageBadRequest = "Permintaan tidak sesuai";
inline constexpr std::string_view kMessageNotFound = "Pesanan tidak ditemukan";

// Bodies that a CDN, web server or PHP puts where JSON was expected.
std::string_view html_too_many_requests();
std::string_view html_server_error(int status);
std::string_view html_challenge();  // the "Just a moment..." page
std::string_view php_warning();
// 2 MiB of spaces: appended after a JSON answer, it keeps the JSON valid
// but exceeds any sane cap on the size of a response read.
const std::string& huge_padding();
// The first half of `json`, so it no longer parses.
std::string truncate_json(std::string_view json);
inline constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

}  // namespace smm::fake
