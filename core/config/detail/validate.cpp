// Range and consistency checks that need the whole loaded config. Each
// check names the key to fix and, where it helps, the allowed values.

#include "config/detail/validate.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <optional>
#include <set>
#include <string_view>

#include "config/detail/text.hpp"

namespace smm::config::detail {
namespace {

class Checker {
 public:
  explicit Checker(const Config& config) : file_(config.source_file) {}

  [[noreturn]] void fail(std::string_view key, ErrorText problem) const {
    throw ConfigError(file_, std::string(key), std::move(problem));
  }

  void positive(std::string_view key, Duration value) const {
    if (value.count() <= 0) fail(key, error_text("must be greater than 0, got \"%s\"", format_duration(value)));
  }

  void in_range(std::string_view key, long long value, long long min, long long max) const {
    if (value < min || value > max) fail(key, error_text("must be between %s and %s, got %s", min, max, value));
  }

  void at_least(std::string_view key, long long value, long long min) const {
    if (value < min) fail(key, error_text("must be at least %s, got %s", min, value));
  }

  void not_empty(std::string_view key, const std::string& value) const {
    if (value.empty()) fail(key, error_text("must not be empty"));
  }

  // `upper` must not be shorter than `lower`, as for a backoff's base and cap.
  void not_below(std::string_view upper_key, Duration upper, std::string_view lower_key, Duration lower) const {
    if (upper < lower) {
      fail(upper_key, error_text("must be at least %s (\"%s\"), got \"%s\"", lower_key,
                                 format_duration(lower), format_duration(upper)));
    }
  }

 private:
  const std::string& file_;
};

bool has_control_char(std::string_view text) {
  for (char c : text) {
    if ((c >= '\0' && c < ' ') || c == '\x7f') return true;
  }
  return false;
}

bool parse_port(std::string_view text, unsigned min, unsigned& port) {
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
  return error == std::errc() && end == text.data() + text.size() && port >= min && port <= 65535;
}

bool all_digits(std::string_view text) {
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return !text.empty();
}

// "host:port" or "[v6]:port". Returns the problem, which quotes `text`, or
// nullopt when valid.
std::optional<ErrorText> check_host_port(std::string_view text, unsigned min_port) {
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos || text.substr(close + 1, 1) != ":") {
      return error_text("expected \"[address]:port\", got \"%s\"", text);
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return error_text("expected \"host:port\", got \"%s\"", text);
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return error_text("an IPv6 address needs brackets, e.g. \"[::1]:9580\", got \"%s\"", text);
    }
  }
  if (host.empty()) return error_text("the host is missing, got \"%s\"", text);
  unsigned number = 0;
  if (!parse_port(port, min_port, number)) {
    return error_text("the port must be a number from %s to 65535, got \"%s\"", min_port, text);
  }
  return std::nullopt;
}

// A fraction in [min, max], or (min, max) where the bound itself makes no sense.
void check_fraction(const Checker& check, std::string_view key, double value, double min, bool min_open,
                    double max, bool max_open) {
  const bool above = min_open ? value > min : value >= min;
  const bool below = max_open ? value < max : value <= max;
  if (above && below) return;
  // One whole sentence per kind of bound, so each translates as a sentence.
  if (min_open && max_open) {
    check.fail(key, error_text("must be greater than %s and less than %s, got %s", min, max, value));
  }
  if (min_open) check.fail(key, error_text("must be greater than %s and at most %s, got %s", min, max, value));
  if (max_open) check.fail(key, error_text("must be at least %s and less than %s, got %s", min, max, value));
  check.fail(key, error_text("must be at least %s and at most %s, got %s", min, max, value));
}

void check_provider_pacing(const Checker& check, const ProviderConfig& provider) {
  // Half the rate as headroom would waste the allowance; more is surely a typo.
  check_fraction(check, "provider.rate_headroom", provider.rate_headroom, 0.0, false, 0.5, false);
  if (provider.burst_margin.count() < 0) check.fail("provider.burst_margin", error_text("must not be negative"));
  check.positive("provider.rate_lookahead", provider.rate_lookahead);
  check_fraction(check, "provider.local_rate_share", provider.local_rate_share, 0.0, true, 1.0, false);
  check_fraction(check, "provider.throttle_backoff", provider.throttle_backoff, 0.0, true, 1.0, true);
  check_fraction(check, "provider.throttle_floor", provider.throttle_floor, 0.0, true, 1.0, false);
  check_fraction(check, "provider.throttle_recovery", provider.throttle_recovery, 0.0, true, 1.0, false);
  check.positive("provider.throttle_hold", provider.throttle_hold);
  check.positive("provider.max_pause", provider.max_pause);
  check.positive("provider.circuit_cooldown", provider.circuit_cooldown);
}

void check_provider(const Checker& check, const ProviderConfig& provider) {
  const auto& url = provider.base_url;
  if (url.empty()) {
    check.fail("provider.base_url",
               error_text("missing: set the provider's URL, e.g. \"https://centralsmm.co.id\""));
  }
  const bool http = url.starts_with("http://") || url.starts_with("https://");
  if (!http || url.size() == url.find("://") + 3) {
    check.fail("provider.base_url", error_text("must be an http:// or https:// URL, got \"%s\"", url));
  }
  if (has_control_char(url) || url.find(' ') != std::string::npos) {
    check.fail("provider.base_url", error_text("must not contain spaces or control characters"));
  }

  check.positive("provider.connect_timeout", provider.connect_timeout);
  check.positive("provider.request_timeout", provider.request_timeout);
  if (!(provider.rate_limit > 0.0)) {
    check.fail("provider.rate_limit",
               error_text("must be greater than 0 requests per second, got %s", provider.rate_limit));
  }
  check.at_least("provider.burst", provider.burst, 1);
  check.in_range("provider.max_in_flight", provider.max_in_flight, 1, 10'000);
  check.in_range("provider.outage_after", provider.outage_after, 1, 1'000'000);
  check.at_least("provider.max_response_bytes", static_cast<long long>(provider.max_response_bytes), 1);

  std::error_code error;
  if (!provider.ca_file.empty() && !std::filesystem::exists(provider.ca_file, error)) {
    check.fail("provider.ca_file", error_text("file not found: %s", provider.ca_file));
  }
  // The user agent becomes an HTTP header line, which a line break would end.
  if (has_control_char(provider.user_agent)) {
    check.fail("provider.user_agent", error_text("must not contain control characters"));
  }
  for (std::size_t i = 0; i < provider.account_error_patterns.size(); ++i) {
    // An empty pattern would match every rejection and stop all polling.
    if (provider.account_error_patterns[i].empty()) {
      check.fail("provider.account_error_patterns", error_text("the pattern at index %s is empty", i));
    }
  }
  check_provider_pacing(check, provider);
}

// redis://[[user]:password@]host[:port][/db]. Returns the problem, or
// nullopt when valid. The problem never quotes the password.
std::optional<ErrorText> check_redis_url(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (!url.starts_with(kScheme)) return error_text("must start with redis://, e.g. \"redis://127.0.0.1:6379/0\"");
  auto rest = url.substr(kScheme.size());
  // The last '@' ends the password, which may itself contain '@' or '/'.
  auto at = rest.rfind('@');
  if (at != std::string_view::npos) rest = rest.substr(at + 1);

  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    auto db = rest.substr(slash + 1);
    if (!db.empty() && !all_digits(db)) return error_text("the database must be a number, got \"%s\"", db);
  }
  if (authority.empty()) return error_text("the host is missing");
  if (authority.starts_with('[') || authority.find(':') != std::string_view::npos) {
    return check_host_port(authority, 1);
  }
  return std::nullopt;
}

void check_redis(const Checker& check, const RedisConfig& redis) {
  if (auto problem = check_redis_url(redis.url)) check.fail("redis.url", std::move(*problem));
  check.not_empty("redis.key_prefix", redis.key_prefix);
  // The prefix becomes the hash tag {prefix}; a brace would end the tag early
  // and spread the keys over several Redis Cluster slots.
  if (redis.key_prefix.find_first_of("{}") != std::string::npos) {
    check.fail("redis.key_prefix", error_text("must not contain '{' or '}'"));
  }
  check.positive("redis.command_timeout", redis.command_timeout);
  check.positive("redis.reconnect_min", redis.reconnect_min);
  check.not_below("redis.reconnect_max", redis.reconnect_max, "redis.reconnect_min", redis.reconnect_min);
  check.at_least("redis.drain_batch", redis.drain_batch, 1);
  check.at_least("redis.claim_batch", redis.claim_batch, 1);
  check.positive("redis.idle_poll", redis.idle_poll);
}

void check_postgres_names(const Checker& check, const PostgresConfig& pg) {
  check.not_empty("postgres.table", pg.table);
  const std::pair<std::string_view, const std::string*> columns[] = {
      {"postgres.id_column", &pg.id_column},
      {"postgres.status_column", &pg.status_column},
      {"postgres.start_count_column", &pg.start_count_column},
      {"postgres.remains_column", &pg.remains_column},
      {"postgres.synced_at_column", &pg.synced_at_column},
  };
  for (std::size_t i = 0; i < std::size(columns); ++i) {
    const auto& [key, name] = columns[i];
    if (name->empty()) {
      if (key != "postgres.synced_at_column") check.fail(key, error_text("must not be empty"));
      continue;
    }
    // One UPDATE sets all of these columns, and PostgreSQL rejects a column
    // assigned twice.
    for (std::size_t j = 0; j < i; ++j) {
      if (*columns[j].second == *name) {
        check.fail(key, error_text("\"%s\" is already used by %s", *name, columns[j].first));
      }
    }
  }
}

void check_postgres(const Checker& check, const PostgresConfig& pg) {
  check_postgres_names(check, pg);
  check.in_range("postgres.batch_size", pg.batch_size, 1, 100'000);
  if (pg.batch_delay.count() < 0) check.fail("postgres.batch_delay", error_text("must not be negative"));
  check.at_least("postgres.max_queued_writes", pg.max_queued_writes, 0);
  check.positive("postgres.statement_timeout", pg.statement_timeout);
  check.positive("postgres.connect_timeout", pg.connect_timeout);
  check.positive("postgres.reconnect_min", pg.reconnect_min);
  check.not_below("postgres.reconnect_max", pg.reconnect_max, "postgres.reconnect_min", pg.reconnect_min);
}

void check_poll(const Checker& check, const PollConfig& poll, const ProviderConfig& provider) {
  check.positive("poll.pending_interval", poll.pending_interval);
  check.positive("poll.processing_interval", poll.processing_interval);
  check.positive("poll.unknown_status_interval", poll.unknown_status_interval);
  // A lease that ends while its request is still in flight lets another
  // instance poll the same order at the same time.
  if (poll.lease <= provider.request_timeout) {
    check.fail("poll.lease", error_text("must be longer than provider.request_timeout (\"%s\"), got \"%s\"",
                                        format_duration(provider.request_timeout), format_duration(poll.lease)));
  }
  check.at_least("poll.max_attempts", poll.max_attempts, 1);
  if (poll.max_claimed < provider.max_in_flight) {
    check.fail("poll.max_claimed", error_text("must be at least provider.max_in_flight (%s), got %s",
                                              provider.max_in_flight, poll.max_claimed));
  }
  check.in_range("poll.max_claimed", poll.max_claimed, 1, 100'000);
  check.positive("poll.give_up_after", poll.give_up_after);
  check.positive("poll.retry_base", poll.retry_base);
  check.not_below("poll.retry_cap", poll.retry_cap, "poll.retry_base", poll.retry_base);
  check.positive("poll.rejection_base", poll.rejection_base);
  check.not_below("poll.rejection_cap", poll.rejection_cap, "poll.rejection_base", poll.rejection_base);
  if (!(poll.jitter >= 0.0 && poll.jitter <= 0.5)) {
    check.fail("poll.jitter", error_text("must be between %s and %s, got %s", 0, 0.5, poll.jitter));
  }
}

void check_final_statuses(const Checker& check, const Config& config) {
  const auto& finals = config.poll.final_statuses;
  if (finals.empty()) {
    check.fail("poll.final_statuses",
               error_text("must list at least one local status, or no order would ever finish"));
  }
  std::set<std::string> values;
  for (const auto& [word, local] : config.status_map) values.insert(local);
  for (const auto& status : finals) {
    if (values.count(status) == 0) {
      check.fail("poll.final_statuses", error_text("final status '%s' is not a value of [status_map]", status));
    }
  }
}

bool is_ip_address(const std::string& host) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 || inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// The health server binds without a DNS lookup, so the host must be an address.
void check_health(const Checker& check, const HealthConfig& health) {
  if (auto problem = check_host_port(health.listen, 0)) check.fail("health.listen", std::move(*problem));
  auto colon = health.listen.rfind(':');
  auto host = health.listen.substr(0, colon);
  if (host.starts_with('[')) host = host.substr(1, host.size() - 2);
  if (!is_ip_address(host)) {
    check.fail("health.listen",
               error_text("the host must be an IP address such as 127.0.0.1 or [::1], got \"%s\"", host));
  }
  if (has_control_char(health.port_file)) {
    check.fail("health.port_file", error_text("must not contain control characters"));
  }
  // 512 bytes hold a probe's request line and usual headers.
  check.in_range("health.max_request_bytes", static_cast<long long>(health.max_request_bytes), 512, 1024 * 1024);
  check.positive("health.read_timeout", health.read_timeout);
  check.in_range("health.max_connections", health.max_connections, 1, 10'000);
  check.positive("health.loop_check_interval", health.loop_check_interval);
  check.positive("health.stall_threshold", health.stall_threshold);
  // A check interval as long as the threshold could not tell a late check
  // from a stalled loop.
  if (health.loop_check_interval >= health.stall_threshold) {
    check.fail("health.loop_check_interval",
               error_text("must be shorter than health.stall_threshold (\"%s\"), got \"%s\"",
                          format_duration(health.stall_threshold), format_duration(health.loop_check_interval)));
  }
  check.positive("health.stats_interval", health.stats_interval);
  check.positive("health.status_interval", health.status_interval);
}

void check_log_and_shutdown(const Checker& check, const Config& config) {
  const std::set<std::string> levels{"trace", "debug", "info", "warn", "error"};
  if (levels.count(config.log.level) == 0) {
    check.fail("log.level",
               error_text("must be one of trace, debug, info, warn, error, got \"%s\"", config.log.level));
  }
  if (config.log.progress_interval.count() < 0) {
    check.fail("log.progress_interval", error_text("must not be negative"));
  }
  if (config.log.format != "text" && config.log.format != "json") {
    check.fail("log.format", error_text("must be \"text\" or \"json\", got \"%s\"", config.log.format));
  }
  if (config.shutdown.grace.count() < 0) check.fail("shutdown.grace", error_text("must not be negative"));
  check.positive("shutdown.hand_back_timeout", config.shutdown.hand_back_timeout);
}

}  // namespace

void validate(const Config& config) {
  const Checker check(config);
  check_provider(check, config.provider);
  check_redis(check, config.redis);
  check_postgres(check, config.postgres);
  check_poll(check, config.poll, config.provider);
  check_final_statuses(check, config);
  check_health(check, config.health);
  check_log_and_shutdown(check, config);
}

}  // namespace smm::config::detail
