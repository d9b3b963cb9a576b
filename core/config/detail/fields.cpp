#include "config/detail/fields.hpp"

#include <cmath>
#include <cstdint>
#include <limits>

#include <fmt/format.h>

#include "config/detail/text.hpp"

namespace smm::config::detail {
namespace {

// Reading: one overload per member type of the config structs. Each
// returns the problem, or nullopt when it stored the value.

std::optional<ErrorText> read_value(const toml::node& node, std::string& out) {
  const auto* value = node.as_string();
  // TRANSLATORS: %s is a TOML type name (string, integer, float, boolean,
  // array, table ...), which stays as written in every language.
  if (value == nullptr) return error_text("expected a string, got %s", type_name(node));
  out = value->get();
  return std::nullopt;
}

std::optional<ErrorText> read_value(const toml::node& node, Secret& out) {
  std::string text;
  auto problem = read_value(node, text);
  if (!problem) out = Secret(std::move(text));
  return problem;
}

std::optional<ErrorText> read_value(const toml::node& node, Duration& out) {
  if (node.is_integer() || node.is_floating_point()) {
    return error_text("expected a duration string, got %s; durations need a unit, e.g. \"15s\"",
                      type_name(node));
  }
  const auto* value = node.as_string();
  if (value == nullptr) {
    return error_text("expected a duration string such as \"15s\", got %s", type_name(node));
  }
  return read_duration(value->get(), out);
}

std::optional<ErrorText> read_value(const toml::node& node, int& out) {
  const auto* value = node.as_integer();
  if (value == nullptr) return error_text("expected an integer, got %s", type_name(node));
  const std::int64_t number = value->get();
  if (number < std::numeric_limits<int>::min() || number > std::numeric_limits<int>::max()) {
    return error_text("%s is out of range for this key (at most %s)", number,
                      std::numeric_limits<int>::max());
  }
  out = static_cast<int>(number);
  return std::nullopt;
}

std::optional<ErrorText> read_value(const toml::node& node, std::size_t& out) {
  const auto* value = node.as_integer();
  if (value == nullptr) return error_text("expected an integer, got %s", type_name(node));
  const std::int64_t number = value->get();
  if (number < 0) return error_text("must not be negative, got %s", number);
  out = static_cast<std::size_t>(number);
  return std::nullopt;
}

// A whole number is taken as a number too: "rate_limit = 5" means 5.0.
std::optional<ErrorText> read_value(const toml::node& node, double& out) {
  if (const auto* integer = node.as_integer()) {
    out = static_cast<double>(integer->get());
    return std::nullopt;
  }
  const auto* value = node.as_floating_point();
  if (value == nullptr) return error_text("expected a number, got %s", type_name(node));
  if (!std::isfinite(value->get())) return error_text("must be a finite number, got %s", value->get());
  out = value->get();
  return std::nullopt;
}

std::optional<ErrorText> read_value(const toml::node& node, bool& out) {
  const auto* value = node.as_boolean();
  if (value == nullptr) return error_text("expected a boolean, got %s", type_name(node));
  out = value->get();
  return std::nullopt;
}

std::optional<ErrorText> read_value(const toml::node& node, std::vector<std::string>& out) {
  const auto* array = node.as_array();
  if (array == nullptr) return error_text("expected an array of strings, got %s", type_name(node));
  std::vector<std::string> values;
  for (std::size_t i = 0; i < array->size(); ++i) {
    const auto* item = (*array)[i].as_string();
    if (item == nullptr) {
      return error_text("expected an array of strings, got %s at index %s", type_name((*array)[i]), i);
    }
    values.push_back(item->get());
  }
  out = std::move(values);
  return std::nullopt;
}

// Rendering: the effective value as TOML.

std::string render_value(const std::string& value) { return toml_quote(value); }

std::string render_value(const Secret& value) {
  return toml_quote(value.empty() ? "" : Secret::kRedacted);
}

std::string render_value(Duration value) { return toml_quote(format_duration(value)); }
std::string render_value(int value) { return fmt::format("{}", value); }
std::string render_value(std::size_t value) { return fmt::format("{}", value); }
std::string render_value(bool value) { return value ? "true" : "false"; }

// fmt prints the shortest text that reads back exactly; TOML needs a '.' or
// an exponent to read it back as a float rather than an integer.
std::string render_value(double value) {
  auto text = fmt::format("{}", value);
  if (text.find_first_of(".eE") == std::string::npos) text += ".0";
  return text;
}

std::string render_value(const std::vector<std::string>& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ", ";
    out += toml_quote(values[i]);
  }
  return out + "]";
}

// Binds a key to `(config.*Part).*Member`, typed by the member.
template <auto Part, auto Member>
Field bind(std::string_view key) {
  return Field{
      key,
      [](Config& config, const toml::node& node) { return read_value(node, (config.*Part).*Member); },
      [](const Config& config) { return render_value((config.*Part).*Member); },
  };
}

// As bind, for a URL or conninfo string whose password must not be printed.
template <auto Part, auto Member>
Field bind_with_password(std::string_view key) {
  auto field = bind<Part, Member>(key);
  field.render = [](const Config& config) {
    return toml_quote(redact_password((config.*Part).*Member));
  };
  return field;
}

std::vector<Section> make_sections() {
  using C = Config;
  using P = ProviderConfig;
  using R = RedisConfig;
  using G = PostgresConfig;
  using O = PollConfig;
  using H = HealthConfig;
  return {
      {"provider",
       {
           bind<&C::provider, &P::base_url>("base_url"),
           bind<&C::provider, &P::api_id>("api_id"),
           bind<&C::provider, &P::api_key>("api_key"),
           bind<&C::provider, &P::secret_key>("secret_key"),
           bind<&C::provider, &P::connect_timeout>("connect_timeout"),
           bind<&C::provider, &P::request_timeout>("request_timeout"),
           bind<&C::provider, &P::rate_limit>("rate_limit"),
           bind<&C::provider, &P::burst>("burst"),
           bind<&C::provider, &P::max_in_flight>("max_in_flight"),
           bind<&C::provider, &P::ca_file>("ca_file"),
           bind<&C::provider, &P::user_agent>("user_agent"),
           bind<&C::provider, &P::max_response_bytes>("max_response_bytes"),
           bind<&C::provider, &P::account_error_patterns>("account_error_patterns"),
           bind<&C::provider, &P::rate_headroom>("rate_headroom"),
           bind<&C::provider, &P::burst_margin>("burst_margin"),
           bind<&C::provider, &P::rate_lookahead>("rate_lookahead"),
           bind<&C::provider, &P::local_rate_share>("local_rate_share"),
           bind<&C::provider, &P::throttle_backoff>("throttle_backoff"),
           bind<&C::provider, &P::throttle_floor>("throttle_floor"),
           bind<&C::provider, &P::throttle_recovery>("throttle_recovery"),
           bind<&C::provider, &P::throttle_hold>("throttle_hold"),
           bind<&C::provider, &P::max_pause>("max_pause"),
           bind<&C::provider, &P::circuit_cooldown>("circuit_cooldown"),
           bind<&C::provider, &P::outage_after>("outage_after"),
       }},
      {"redis",
       {
           bind_with_password<&C::redis, &R::url>("url"),
           bind<&C::redis, &R::key_prefix>("key_prefix"),
           bind<&C::redis, &R::command_timeout>("command_timeout"),
           bind<&C::redis, &R::reconnect_min>("reconnect_min"),
           bind<&C::redis, &R::reconnect_max>("reconnect_max"),
           bind<&C::redis, &R::drain_batch>("drain_batch"),
           bind<&C::redis, &R::claim_batch>("claim_batch"),
           bind<&C::redis, &R::idle_poll>("idle_poll"),
       }},
      {"postgres",
       {
           bind_with_password<&C::postgres, &G::conninfo>("conninfo"),
           bind<&C::postgres, &G::table>("table"),
           bind<&C::postgres, &G::id_column>("id_column"),
           bind<&C::postgres, &G::status_column>("status_column"),
           bind<&C::postgres, &G::start_count_column>("start_count_column"),
           bind<&C::postgres, &G::remains_column>("remains_column"),
           bind<&C::postgres, &G::synced_at_column>("synced_at_column"),
           bind<&C::postgres, &G::batch_size>("batch_size"),
           bind<&C::postgres, &G::batch_delay>("batch_delay"),
           bind<&C::postgres, &G::flush_when_idle>("flush_when_idle"),
           bind<&C::postgres, &G::max_queued_writes>("max_queued_writes"),
           bind<&C::postgres, &G::statement_timeout>("statement_timeout"),
           bind<&C::postgres, &G::connect_timeout>("connect_timeout"),
           bind<&C::postgres, &G::reconnect_min>("reconnect_min"),
           bind<&C::postgres, &G::reconnect_max>("reconnect_max"),
       }},
      {"poll",
       {
           bind<&C::poll, &O::pending_interval>("pending_interval"),
           bind<&C::poll, &O::processing_interval>("processing_interval"),
           bind<&C::poll, &O::unknown_status_interval>("unknown_status_interval"),
           bind<&C::poll, &O::lease>("lease"),
           bind<&C::poll, &O::max_claimed>("max_claimed"),
           bind<&C::poll, &O::max_attempts>("max_attempts"),
           bind<&C::poll, &O::give_up_after>("give_up_after"),
           bind<&C::poll, &O::final_statuses>("final_statuses"),
           bind<&C::poll, &O::retry_base>("retry_base"),
           bind<&C::poll, &O::retry_cap>("retry_cap"),
           bind<&C::poll, &O::rejection_base>("rejection_base"),
           bind<&C::poll, &O::rejection_cap>("rejection_cap"),
           bind<&C::poll, &O::jitter>("jitter"),
       }},
      {"health",
       {
           bind<&C::health, &H::listen>("listen"),
           bind<&C::health, &H::port_file>("port_file"),
           bind<&C::health, &H::max_request_bytes>("max_request_bytes"),
           bind<&C::health, &H::read_timeout>("read_timeout"),
           bind<&C::health, &H::max_connections>("max_connections"),
           bind<&C::health, &H::loop_check_interval>("loop_check_interval"),
           bind<&C::health, &H::stall_threshold>("stall_threshold"),
           bind<&C::health, &H::stats_interval>("stats_interval"),
           bind<&C::health, &H::status_interval>("status_interval"),
       }},
      {"log",
       {
           bind<&C::log, &LogConfig::level>("level"),
           bind<&C::log, &LogConfig::format>("format"),
           bind<&C::log, &LogConfig::progress_interval>("progress_interval"),
       }},
      {"shutdown",
       {
           bind<&C::shutdown, &ShutdownConfig::grace>("grace"),
           bind<&C::shutdown, &ShutdownConfig::hand_back_timeout>("hand_back_timeout"),
       }},
  };
}

bool is_bare_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

}  // namespace

const std::vector<Section>& sections() {
  static const std::vector<Section> table = make_sections();
  return table;
}

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

std::string toml_key(std::string_view key) {
  bool bare = !key.empty();
  for (char c : key) bare = bare && is_bare_key_char(c);
  return bare ? std::string(key) : toml_quote(key);
}

}  // namespace smm::config::detail
