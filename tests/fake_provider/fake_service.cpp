#include "fake_service.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

namespace smm::fake {
namespace {

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kHtml = "text/html; charset=UTF-8";
constexpr std::string_view kText = "text/plain";
constexpr std::int64_t kLimiterRetryAfterS = 1;
constexpr auto kRateSlot = std::chrono::milliseconds(100);

Reply json_reply(unsigned status, std::string body) { return {status, kJson, std::move(body), -1, {}}; }
Reply html_reply(unsigned status, std::string_view body) { return {status, kHtml, std::string(body), -1, {}}; }
Reply text_reply(unsigned status, std::string_view body) { return {status, kText, std::string(body), -1, {}}; }

Reply too_many_requests(std::int64_t retry_after_s) {
  Reply reply = html_reply(429, html_too_many_requests());
  reply.retry_after_s = retry_after_s;
  return reply;
}

Reply error_reply(unsigned status, std::string_view message) {
  std::string body = "{\"error\":";
  append_json_string(body, message);
  body += "}";
  return json_reply(status, std::move(body));
}

void append_field(std::string& out, std::string_view name, std::uint64_t value) {
  if (out.size() > 1) out += ',';
  out += '"';
  out += name;
  out += "\":";
  append_json_number(out, static_cast<std::int64_t>(value));
}

// Appends "name":"value" with the JSON escapes a header value can need.
void append_text_field(std::string& out, std::string_view name, std::string_view value) {
  if (out.size() > 1) out += ',';
  out += '"';
  out += name;
  out += "\":\"";
  for (const char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += "\\u00";
      out += "0123456789abcdef"[(c >> 4) & 0xF];
      out += "0123456789abcdef"[c & 0xF];
    } else {
      out += c;
    }
  }
  out += '"';
}

void append_double_field(std::string& out, std::string_view name, double value) {
  std::array<char, 32> digits{};
  auto [end, error] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out += ",\"";
  out += name;
  out += "\":";
  out.append(digits.data(), end);
}

void append_int_field(std::string& out, std::string_view name, std::int64_t value) {
  out += ",\"";
  out += name;
  out += "\":";
  append_json_number(out, value);
}

void append_bool_field(std::string& out, std::string_view name, bool value) {
  out += ",\"";
  out += name;
  out += "\":";
  out += value ? "true" : "false";
}

template <typename T>
bool parse_number(std::string_view text, T* value) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return error == std::errc() && end == text.data() + text.size();
}

// Applies one POST /control field to `faults`; returns false when the name
// is unknown or the value invalid.
bool apply_control_field(std::string_view name, std::string_view value, FaultSettings* faults) {
  auto probability = [&](double* target) {
    double parsed = 0;
    if (!parse_number(value, &parsed) || parsed < 0 || parsed > 1) return false;
    *target = parsed;
    return true;
  };
  auto non_negative = [&](std::int64_t* target) {
    std::int64_t parsed = 0;
    if (!parse_number(value, &parsed) || parsed < 0) return false;
    *target = parsed;
    return true;
  };
  auto flag = [&](bool* target) {
    if (value != "0" && value != "1") return false;
    *target = value == "1";
    return true;
  };

  if (name == "rate-429") return probability(&faults->rate_429);
  if (name == "retry-after") return non_negative(&faults->retry_after_s);
  if (name == "rate-5xx") return probability(&faults->rate_5xx);
  if (name == "rate-html") return probability(&faults->rate_html);
  if (name == "rate-malformed") return probability(&faults->rate_malformed);
  if (name == "rate-slow") return probability(&faults->rate_slow);
  if (name == "slow-ms") return non_negative(&faults->slow_ms);
  if (name == "latency-ms") return non_negative(&faults->latency_ms);
  if (name == "chaos") return flag(&faults->chaos);
  if (name == "down") return flag(&faults->down);
  if (name == "server-burst") return non_negative(&faults->server_burst) && faults->server_burst >= 1;
  if (name == "server-rate-limit") {
    double parsed = 0;
    if (!parse_number(value, &parsed) || parsed < 0) return false;
    faults->server_rate_limit = parsed;
    return true;
  }
  return false;
}

}  // namespace

// ---- RateWindow ----

void RateWindow::advance(std::int64_t slot) {
  if (slot - last_slot_ >= static_cast<std::int64_t>(counts_.size())) {
    counts_.fill(0);
  } else {
    for (std::int64_t s = last_slot_ + 1; s <= slot; ++s) counts_[static_cast<std::size_t>(s) % counts_.size()] = 0;
  }
  last_slot_ = std::max(last_slot_, slot);
}

void RateWindow::add(Clock::time_point now) {
  std::int64_t slot = now.time_since_epoch() / kRateSlot;
  advance(slot);
  ++counts_[static_cast<std::size_t>(slot) % counts_.size()];
}

std::uint64_t RateWindow::rate(Clock::time_point now) {
  advance(now.time_since_epoch() / kRateSlot);
  std::uint64_t sum = 0;
  for (std::uint64_t count : counts_) sum += count;
  return sum;
}

// ---- Gcra ----

void Gcra::configure(double rate_per_second, std::int64_t burst) {
  theoretical_arrival_ = {};
  if (rate_per_second <= 0) {
    interval_ = Clock::duration::zero();
    return;
  }
  auto seconds = std::chrono::duration<double>(1.0 / rate_per_second);
  interval_ = std::max(Clock::duration(1), std::chrono::duration_cast<Clock::duration>(seconds));
  tolerance_ = interval_ * (std::max<std::int64_t>(burst, 1) - 1);
}

bool Gcra::allow(Clock::time_point now) {
  if (interval_ == Clock::duration::zero()) return true;
  Clock::time_point arrival = std::max(theoretical_arrival_, now);
  if (arrival - now > tolerance_) return false;
  theoretical_arrival_ = arrival + interval_;
  return true;
}

// ---- FakeService ----

enum class FakeService::Quirk {
  none,
  numbers_as_strings,
  start_count_null,
  start_count_missing,
  odd_status_word,
  extra_fields,
  byte_order_mark,
  php_warning,
  empty_body,
  html_page,
  truncated_json,
  http_429,
  http_503,
  huge_body,
  count  // number of values above, not a quirk
};

// A status response body in JSON before any transport quirk, and its kind.
struct FakeService::Semantic {
  enum class Kind { success, unknown_word, auth_failure, bad_request, not_found } kind;
  std::string json;
};

FakeService::FakeService(Options options) : options_(std::move(options)), random_(options_.seed) {
  answers_by_id_.reserve(1 << 16);
  limiter_.configure(options_.faults.server_rate_limit, options_.faults.server_burst);
}

void FakeService::connection_opened() {
  ++open_connections_;
  max_concurrent_ = std::max(max_concurrent_, open_connections_);
}

void FakeService::connection_closed() { --open_connections_; }

void FakeService::note_user_agent(std::string_view user_agent) {
  last_user_agent_.assign(user_agent);
}

Reply FakeService::handle(std::string_view method, std::string_view target, std::string_view body,
                          Clock::time_point now) {
  ++counters_.requests;
  rate_window_.add(now);

  std::size_t question = target.find('?');
  std::string_view path = target.substr(0, question);
  std::string_view query = question == std::string_view::npos ? std::string_view() : target.substr(question + 1);

  if (path == "/api/status") return method == "POST" ? status_request(body, now) : text_reply(405, "use POST\n");
  if (path == "/stats") return method == "GET" ? stats(now) : text_reply(405, "use GET\n");
  if (path == "/truth") return method == "GET" ? truth(query) : text_reply(405, "use GET\n");
  if (path == "/control") {
    if (method == "POST") return control(body);
    if (method == "GET") return json_reply(200, settings_json());
    return text_reply(405, "use POST\n");
  }
  return text_reply(404, "not found\n");
}

Reply FakeService::status_request(std::string_view body, Clock::time_point now) {
  ++counters_.status_requests;
  const FaultSettings& faults = options_.faults;
  if (faults.down) {
    ++counters_.http_5xx;
    return html_reply(503, html_server_error(503));
  }
  if (!limiter_.allow(now)) {
    ++counters_.violations;
    ++counters_.http_429;
    return too_many_requests(kLimiterRetryAfterS);
  }

  Quirk quirk = faults.chaos ? pick_quirk() : Quirk::none;
  if (quirk != Quirk::none) ++counters_.chaos;

  Reply reply = fault_by_rate();
  if (reply.status == 0) {
    // Transport quirks show the id's current state without advancing it,
    // because only well-formed responses count as polls.
    bool well_formed = quirk < Quirk::php_warning;
    Semantic semantic = semantic_answer(body, quirk, well_formed);
    if (well_formed) {
      count_semantic(semantic);
      reply = json_reply(200, std::move(semantic.json));
    } else {
      reply = transport_quirk(quirk, semantic);
    }
  }
  reply.delay = answer_delay();
  return reply;
}

// Returns a fault picked by the configured rates, or status 0 for none.
Reply FakeService::fault_by_rate() {
  const FaultSettings& faults = options_.faults;
  if (chance(faults.rate_429)) {
    ++counters_.http_429;
    return too_many_requests(faults.retry_after_s);
  }
  if (chance(faults.rate_5xx)) {
    ++counters_.http_5xx;
    static constexpr std::array<unsigned, 3> kStatuses = {500, 502, 503};
    unsigned status = kStatuses[random_() % kStatuses.size()];
    return html_reply(status, html_server_error(static_cast<int>(status)));
  }
  if (chance(faults.rate_html)) {
    ++counters_.html;
    return html_reply(200, html_challenge());
  }
  if (chance(faults.rate_malformed)) {
    ++counters_.malformed;
    return json_reply(200, truncate_json(render_success("0", order_state("0", 1, 1), {})));
  }
  return Reply{0, kJson, {}, -1, {}};
}

Reply FakeService::transport_quirk(Quirk quirk, const Semantic& semantic) {
  switch (quirk) {
    case Quirk::php_warning: {
      ++counters_.malformed;
      std::string body(php_warning());
      body += semantic.json;
      return html_reply(200, body);
    }
    case Quirk::empty_body:
      ++counters_.malformed;
      return json_reply(200, {});
    case Quirk::html_page:
      ++counters_.html;
      return html_reply(200, html_challenge());
    case Quirk::truncated_json:
      ++counters_.malformed;
      return json_reply(200, truncate_json(semantic.json));
    case Quirk::http_429:
      ++counters_.http_429;
      return too_many_requests(options_.faults.retry_after_s);
    case Quirk::http_503:
      ++counters_.http_5xx;
      return html_reply(503, html_server_error(503));
    default: {
      ++counters_.malformed;
      std::string body;
      body.reserve(semantic.json.size() + huge_padding().size());
      body += semantic.json;
      body += huge_padding();
      return json_reply(200, std::move(body));
    }
  }
}

// Builds the response to a status request body. With `commit` the id's poll
// count advances. Without it the response repeats the id's latest state.
FakeService::Semantic FakeService::semantic_answer(std::string_view body, Quirk quirk, bool commit) {
  std::string_view api_id, api_key, secret_key;
  std::string id;
  bool has_id = false;
  auto fields = parse_form(body);
  for (const auto& [name, value] : fields) {
    if (name == "api_id") api_id = value;
    if (name == "api_key") api_key = value;
    if (name == "secret_key") secret_key = value;
    if (name == "id") {
      id = value;
      has_id = !value.empty();
    }
  }

  using Kind = Semantic::Kind;
  if (api_id != options_.api_id || api_key != options_.api_key || secret_key != options_.secret_key) {
    return {Kind::auth_failure, render_failure(kMessageBadCredentials)};
  }
  if (!has_id) return {Kind::bad_request, render_failure(kMessageBadRequest)};
  if (std::string_view(id).starts_with(kNotFoundPrefix)) return {Kind::not_found, render_failure(kMessageNotFound)};

  AnswerStyle style;
  style.numbers_as_strings = options_.numbers_as_strings || quirk == Quirk::numbers_as_strings;
  style.extra_fields = quirk == Quirk::extra_fields;
  if (quirk == Quirk::odd_status_word) style.spelling = static_cast<StatusSpelling>(1 + random_() % 3);
  if (std::string_view(id).starts_with(kUnknownWordPrefix)) {
    return {Kind::unknown_word, render_success(id, unknown_word_state(id), style)};
  }

  std::uint32_t answer = 1;
  if (commit) {
    answer = ++answers_by_id_[id];
  } else if (auto found = answers_by_id_.find(id); found != answers_by_id_.end()) {
    answer = std::max<std::uint32_t>(found->second, 1);
  }
  // The first response always carries start_count, so a daemon that keeps
  // the last reported value ends with the truth even when later ones omit it.
  if (answer > 1) {
    style.start_count_null = quirk == Quirk::start_count_null;
    style.start_count_missing = quirk == Quirk::start_count_missing;
  }

  std::string json = render_success(id, order_state(id, answer, options_.polls_to_final), style);
  if (quirk == Quirk::byte_order_mark) json.insert(0, kUtf8Bom);
  return {Kind::success, std::move(json)};
}

void FakeService::count_semantic(const Semantic& semantic) {
  switch (semantic.kind) {
    case Semantic::Kind::success:
      ++counters_.ok;
      break;
    case Semantic::Kind::unknown_word:
      ++counters_.ok;
      ++counters_.unknown_status;
      break;
    case Semantic::Kind::auth_failure:
      ++counters_.rejected;
      ++counters_.auth_failures;
      break;
    case Semantic::Kind::bad_request:
      ++counters_.rejected;
      break;
    case Semantic::Kind::not_found:
      ++counters_.rejected;
      ++counters_.not_found;
      break;
  }
}

std::chrono::milliseconds FakeService::answer_delay() {
  std::chrono::milliseconds delay(options_.faults.latency_ms);
  if (chance(options_.faults.rate_slow)) {
    ++counters_.slow;
    delay += std::chrono::milliseconds(options_.faults.slow_ms);
  }
  return delay;
}

FakeService::Quirk FakeService::pick_quirk() {
  return static_cast<Quirk>(random_() % static_cast<std::uint64_t>(Quirk::count));
}

bool FakeService::chance(double probability) {
  if (probability <= 0) return false;
  if (probability >= 1) return true;
  return std::uniform_real_distribution<double>(0.0, 1.0)(random_) < probability;
}

Reply FakeService::stats(Clock::time_point now) {
  std::string out = "{";
  out.reserve(512);
  append_field(out, "requests", counters_.requests);
  append_field(out, "status_requests", counters_.status_requests);
  append_field(out, "ok", counters_.ok);
  append_field(out, "rejected", counters_.rejected);
  append_field(out, "auth_failures", counters_.auth_failures);
  append_field(out, "not_found", counters_.not_found);
  append_field(out, "unknown_status", counters_.unknown_status);
  append_field(out, "http_429", counters_.http_429);
  append_field(out, "http_5xx", counters_.http_5xx);
  append_field(out, "html", counters_.html);
  append_field(out, "malformed", counters_.malformed);
  append_field(out, "slow", counters_.slow);
  append_field(out, "chaos", counters_.chaos);
  append_field(out, "violations", counters_.violations);
  append_field(out, "ids", answers_by_id_.size());
  append_field(out, "max_concurrent", max_concurrent_);
  append_text_field(out, "last_user_agent", last_user_agent_);
  append_field(out, "current_rate", rate_window_.rate(now));
  out += '}';
  return json_reply(200, std::move(out));
}

Reply FakeService::truth(std::string_view query) const {
  std::string id;
  for (auto& [name, value] : parse_form(query)) {
    if (name == "id") id = std::move(value);
  }
  if (id.empty()) return error_reply(400, "missing query parameter id");

  auto found = answers_by_id_.find(id);
  std::uint32_t answers = found == answers_by_id_.end() ? 0 : found->second;
  return json_reply(200, render_truth(id, answers, options_.polls_to_final));
}

Reply FakeService::control(std::string_view body) {
  FaultSettings faults = options_.faults;
  for (const auto& [name, value] : parse_form(body)) {
    if (!apply_control_field(name, value, &faults)) {
      return error_reply(400, "unknown field or invalid value: " + name + "=" + value);
    }
  }

  bool limit_changed = faults.server_rate_limit != options_.faults.server_rate_limit ||
                       faults.server_burst != options_.faults.server_burst;
  options_.faults = faults;
  if (limit_changed) limiter_.configure(faults.server_rate_limit, faults.server_burst);
  return json_reply(200, settings_json());
}

std::string FakeService::settings_json() const {
  const FaultSettings& faults = options_.faults;
  std::string out = "{\"polls_to_final\":";
  append_json_number(out, options_.polls_to_final);
  append_bool_field(out, "numbers_as_strings", options_.numbers_as_strings);
  append_double_field(out, "rate_429", faults.rate_429);
  append_int_field(out, "retry_after", faults.retry_after_s);
  append_double_field(out, "rate_5xx", faults.rate_5xx);
  append_double_field(out, "rate_html", faults.rate_html);
  append_double_field(out, "rate_malformed", faults.rate_malformed);
  append_double_field(out, "rate_slow", faults.rate_slow);
  append_int_field(out, "slow_ms", faults.slow_ms);
  append_int_field(out, "latency_ms", faults.latency_ms);
  append_bool_field(out, "chaos", faults.chaos);
  append_bool_field(out, "down", faults.down);
  append_double_field(out, "server_rate_limit", faults.server_rate_limit);
  append_int_field(out, "server_burst", faults.server_burst);
  out += '}';
  return out;
}

}  // namespace smm::fake
