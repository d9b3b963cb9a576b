#include "provider_model.hpp"

#include <array>
#include <charconv>
#include <cstddef>

namespace smm::fake {
namespace {

constexpr std::int64_t kPrice = 23000;
constexpr std::uint64_t kQuantityBase = 100;
constexpr std::uint64_t kQuantitySpread = 10000;
constexpr std::uint64_t kStartSpread = 5000;
constexpr std::size_t kHugePaddingBytes = 2 * 1024 * 1024;

struct OrderShape {
  std::int64_t quantity;
  std::int64_t start;
  std::uint64_t final_pick;  // 0..19, chooses the final state
};

OrderShape order_shape(std::string_view id) {
  std::uint64_t h = fnv1a64(id);
  return {static_cast<std::int64_t>(kQuantityBase + h % kQuantitySpread),
          static_cast<std::int64_t>(h % kStartSpread), (h / 7) % 20};
}

// 13 of 20 ids end "Success", 1 "Success" over-delivered by 2, 3 "Partial"
// and 3 "Error".
OrderState final_state(const OrderShape& shape) {
  if (shape.final_pick <= 12) return {"Success", shape.start, 0, true};
  if (shape.final_pick == 13) return {"Success", shape.start, -2, true};
  if (shape.final_pick <= 16) return {"Partial", shape.start, shape.quantity / 3, true};
  return {"Error", shape.start, shape.quantity, true};
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// An id is sent as a JSON number only when that number prints back as the
// same text: no sign, no leading zero, within int64.
bool id_as_number(std::string_view id, std::int64_t* value) {
  if (id.empty() || (id.size() > 1 && id.front() == '0')) return false;
  for (char c : id) {
    if (c < '0' || c > '9') return false;
  }
  auto [end, error] = std::from_chars(id.data(), id.data() + id.size(), *value);
  return error == std::errc() && end == id.data() + id.size();
}

std::string spelled_status(std::string_view word, StatusSpelling spelling) {
  std::string out;
  switch (spelling) {
    case StatusSpelling::canonical:
      return std::string(word);
    case StatusSpelling::upper_padded:
      out = " ";
      for (char c : word) out += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
      out += " ";
      return out;
    case StatusSpelling::lower:
      for (char c : word) out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      return out;
    case StatusSpelling::underscored:
      // "in progress" is a synonym of "processing" in the daemon's default map.
      if (word == "Processing") return "in_progress";
      out = "  ";
      for (char c : word) out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      return out;
  }
  return std::string(word);
}

void append_number_field(std::string& out, std::string_view key, std::int64_t value, bool as_string) {
  out += '"';
  out += key;
  out += "\":";
  if (as_string) out += '"';
  append_json_number(out, value);
  if (as_string) out += '"';
}

}  // namespace

std::uint64_t fnv1a64(std::string_view text) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

OrderState order_state(std::string_view id, std::uint32_t answer, std::uint32_t polls_to_final) {
  OrderShape shape = order_shape(id);
  if (answer >= polls_to_final) return final_state(shape);
  if (answer <= 1) return {"Pending", shape.start, shape.quantity, false};

  std::int64_t left = static_cast<std::int64_t>(polls_to_final - answer);
  return {"Processing", shape.start, shape.quantity * left / static_cast<std::int64_t>(polls_to_final), false};
}

OrderState unknown_word_state(std::string_view id) {
  OrderShape shape = order_shape(id);
  return {"Refilling", shape.start, shape.quantity, false};
}

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out += ' ';
      continue;
    }
    if (c == '%' && i + 2 < text.size()) {
      int high = hex_value(text[i + 1]);
      int low = hex_value(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out += static_cast<char>(high * 16 + low);
        i += 2;
        continue;
      }
    }
    out += c;
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_form(std::string_view body) {
  std::vector<std::pair<std::string, std::string>> fields;
  while (!body.empty()) {
    std::size_t amp = body.find('&');
    std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view() : body.substr(amp + 1);
    if (pair.empty()) continue;

    std::size_t eq = pair.find('=');
    std::string_view name = pair.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    fields.emplace_back(percent_decode(name), percent_decode(value));
  }
  return fields;
}

std::string render_success(std::string_view id, const OrderState& state, const AnswerStyle& style) {
  std::string out;
  out.reserve(192 + id.size());
  out += "{\"response\":true,\"data\":{\"id\":";
  std::int64_t numeric_id = 0;
  if (!style.numbers_as_strings && id_as_number(id, &numeric_id)) {
    append_json_number(out, numeric_id);
  } else {
    append_json_string(out, id);
  }
  out += ',';
  append_number_field(out, "price", kPrice, style.numbers_as_strings);
  out += ",\"status\":";
  append_json_string(out, spelled_status(state.status, style.spelling));
  if (style.start_count_null) {
    out += ",\"start_count\":null";
  } else if (!style.start_count_missing) {
    out += ',';
    append_number_field(out, "start_count", state.start_count, style.numbers_as_strings);
  }
  out += ',';
  append_number_field(out, "remains", state.remains, style.numbers_as_strings);
  if (style.extra_fields) {
    out += ",\"service\":\"Instagram Followers [Real]\",\"target\":\"https://example.com/p/1\",\"currency\":\"IDR\"";
  }
  out += '}';
  if (style.extra_fields) out += ",\"api_version\":\"1.2\",\"notice\":null";
  out += '}';
  return out;
}

std::string render_failure(std::string_view message) {
  std::string out;
  out.reserve(48 + message.size());
  out += "{\"response\":false,\"data\":{\"msg\":";
  append_json_string(out, message);
  out += "}}";
  return out;
}

std::string render_truth(std::string_view id, std::uint32_t answers, std::uint32_t polls_to_final) {
  std::string out = "{\"id\":";
  append_json_string(out, id);
  out += ",\"polls\":";
  append_json_number(out, answers);

  if (id.starts_with(kNotFoundPrefix)) {
    out += ",\"status\":\"not_found\",\"start_count\":null,\"remains\":null,\"final_polls\":null}";
    return out;
  }
  bool never_final = id.starts_with(kUnknownWordPrefix);
  OrderState state = never_final ? unknown_word_state(id) : order_state(id, polls_to_final, polls_to_final);
  out += ",\"status\":";
  append_json_string(out, state.status);
  out += ",\"start_count\":";
  append_json_number(out, state.start_count);
  out += ",\"remains\":";
  append_json_number(out, state.remains);
  out += ",\"final_polls\":";
  if (never_final) {
    out += "null";
  } else {
    append_json_number(out, polls_to_final);
  }
  out += '}';
  return out;
}

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    } else {
      out += c;
    }
  }
  out += '"';
}

void append_json_number(std::string& out, std::int64_t value) {
  std::array<char, 24> digits{};
  auto [end, error] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), end);
}

std::string_view html_too_many_requests() {
  return "<html><head><title>429 Too Many Requests</title></head><body><center><h1>429 Too Many "
         "Requests</h1></center><hr><center>nginx</center></body></html>\n";
}

std::string_view html_server_error(int status) {
  switch (status) {
    case 500:
      return "<html><head><title>500 Internal Server Error</title></head><body><center><h1>500 "
             "Internal Server Error</h1></center><hr><center>nginx</center></body></html>\n";
    case 502:
      return "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad "
             "Gateway</h1></center><hr><center>nginx</center></body></html>\n";
    default:
      return "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 "
             "Service Temporarily Unavailable</h1></center><hr><center>nginx</center></body></html>\n";
  }
}

std::string_view html_challenge() {
  return "<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title>"
         "<meta http-equiv=\"refresh\" content=\"35\"></head><body><h1>Checking your browser before "
         "accessing the site.</h1><p>This process is automatic.</p></body></html>\n";
}

std::string_view php_warning() {
  return "<br />\n<b>Warning</b>:  Undefined array key \"order\" in <b>/home/panel/public_html/api/"
         "status.php</b> on line <b>57</b><br />\n";
}

const std::string& huge_padding() {
  static const std::string padding(kHugePaddingBytes, ' ');
  return padding;
}

std::string truncate_json(std::string_view json) { return std::string(json.substr(0, json.size() / 2)); }

}  // namespace smm::fake
