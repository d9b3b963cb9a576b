#pragma once
// The daemon's configuration: the TOML file of the SPEC with its defaults,
// overridden by the environment for the provider secrets.
//
// Loading happens once at start-up, before any I/O; errors throw ConfigError
// naming the file, the key and the problem. The resulting Config is a plain
// value, copied into each component that needs its own part.

#include <chrono>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/error_text.hpp"
#include "config/secret.hpp"

namespace smm::config {

using Duration = std::chrono::milliseconds;

struct ProviderConfig {
  std::string base_url;                          // required, http:// or https://
  Secret api_id;
  Secret api_key;
  Secret secret_key;
  Duration connect_timeout{std::chrono::seconds(5)};
  Duration request_timeout{std::chrono::seconds(15)};
  double rate_limit = 5.0;                       // requests per second
  int burst = 5;
  int max_in_flight = 16;
  std::string ca_file;                           // extra CA bundle; empty = system store
  std::string user_agent = "smm-syncd";
  std::size_t max_response_bytes = 64 * 1024;    // responses larger than this are cut off
  // Case-insensitive substrings of a rejection message that mean the account
  // (key, secret, IP whitelist, suspension) or the request itself was
  // refused, not the order. Any other rejection counts against the order.
  std::vector<std::string> account_error_patterns{
      "api key", "api_key", "secret", "invalid key", "disabled", "suspend",
      "ip address", "alamat ip", "ip anda", "ip tidak", "whitelist", "tidak diizinkan",
      "not allowed", "permintaan tidak sesuai", "incorrect request"};

  // Pacing. All instances sharing one Redis aim together at rate_limit less
  // this fraction, so clock and send-time differences stay under the limit.
  double rate_headroom = 0.02;
  // Taken off the burst's tolerance: requests granted at the same instant may
  // reach the provider this much apart and must still fit its burst.
  Duration burst_margin{std::chrono::milliseconds(20)};
  // How far ahead an instance may reserve send times in one Redis round trip.
  Duration rate_lookahead{std::chrono::milliseconds(100)};
  // This instance's fraction of rate_limit while Redis is unreachable
  // (1/N for N instances keeps the sum within the limit).
  double local_rate_share = 1.0;

  // Throttling without Retry-After (HTTP 429): the shared rate is multiplied
  // by throttle_backoff, at most once per throttle_hold, never below
  // throttle_floor of the target, and regains throttle_recovery of the
  // target per second.
  double throttle_backoff = 0.5;
  double throttle_floor = 0.1;
  double throttle_recovery = 0.05;
  Duration throttle_hold{std::chrono::seconds(1)};
  // Maximum pause taken from a Retry-After header.
  Duration max_pause{std::chrono::minutes(5)};
  // After an account rejection: time until one instance sends a probe.
  Duration circuit_cooldown{std::chrono::seconds(60)};
  // Failed polls in a row (network, timeout, HTTP error, malformed response)
  // before the provider is logged as failing; the next usable response logs
  // it as recovered.
  int outage_after = 5;
};

struct RedisConfig {
  std::string url = "redis://127.0.0.1:6379/0";
  std::string key_prefix = "smm-syncd";
  Duration command_timeout{std::chrono::seconds(2)};
  Duration reconnect_min{std::chrono::milliseconds(100)};
  Duration reconnect_max{std::chrono::seconds(5)};
  int drain_batch = 100;                         // inbox entries moved per script call
  int claim_batch = 50;                          // ids claimed per script call
  Duration idle_poll{std::chrono::seconds(1)};   // fallback wake-up when nothing signals work
};

struct PostgresConfig {
  std::string conninfo;                          // empty = the PG* environment
  std::string table = "orders";
  std::string id_column = "provider_order_id";
  std::string status_column = "status";
  std::string start_count_column = "start_count";
  std::string remains_column = "remains";
  std::string synced_at_column = "provider_synced_at";  // empty disables
  int batch_size = 500;
  Duration batch_delay{std::chrono::milliseconds(20)};
  // Send a batch at once when no statement is running, instead of waiting
  // for batch_size or batch_delay. Rows that arrive while a statement runs
  // still form the next batch, so batching adapts to the load.
  bool flush_when_idle = true;
  // Writes held while PostgreSQL is unreachable; further writes fail at once
  // with pg_connection_lost so their callers retry later.
  int max_queued_writes = 2000;
  Duration statement_timeout{std::chrono::seconds(5)};
  Duration connect_timeout{std::chrono::seconds(5)};
  Duration reconnect_min{std::chrono::milliseconds(100)};
  Duration reconnect_max{std::chrono::seconds(5)};
};

struct PollConfig {
  Duration pending_interval{std::chrono::seconds(60)};
  Duration processing_interval{std::chrono::seconds(30)};
  Duration unknown_status_interval{std::chrono::seconds(60)};  // word not in the status map
  Duration lease{std::chrono::seconds(120)};
  // Maximum order ids claimed by this instance at once: waiting for a send time, in a
  // provider request, or waiting for their write and completion. At least
  // provider.max_in_flight, which caps the requests alone.
  int max_claimed = 64;
  int max_attempts = 8;                          // order-level rejections before the dead list
  Duration give_up_after{std::chrono::hours(24 * 30)};
  std::vector<std::string> final_statuses{"success", "partial", "error", "canceled"};
  Duration retry_base{std::chrono::seconds(2)};        // transient failures: full jitter
  Duration retry_cap{std::chrono::minutes(5)};
  Duration rejection_base{std::chrono::minutes(5)};    // order-level rejections
  Duration rejection_cap{std::chrono::hours(6)};
  double jitter = 0.1;                           // +/- fraction applied to poll intervals
};

struct HealthConfig {
  std::string listen = "127.0.0.1:9580";
  // File the bound port is written to after listening ("" = none); useful
  // with port 0, which binds a free port.
  std::string port_file;
  // Largest request the endpoint reads, header and body each; a larger
  // header gets 431, a larger body 413, and the connection is closed.
  std::size_t max_request_bytes = 8 * 1024;
  // Time a client has to send a whole request (and later to read the
  // response); a slower client is disconnected.
  Duration read_timeout{std::chrono::seconds(5)};
  int max_connections = 16;                      // further connections are closed at once
  // The event loop is checked this often; a check that runs later than
  // stall_threshold marks the loop stalled (/healthz 503, no WATCHDOG=1).
  Duration loop_check_interval{std::chrono::seconds(1)};
  Duration stall_threshold{std::chrono::seconds(5)};
  Duration stats_interval{std::chrono::seconds(5)};   // queue counts for /metrics
  Duration status_interval{std::chrono::seconds(5)};  // STATUS= line sent to systemd
};

struct LogConfig {
  std::string level = "info";                    // trace, debug, info, warn, error
  std::string format = "text";                   // text or json
  // An info line with the running totals this often, when anything changed
  // since the last one; 0 disables it.
  Duration progress_interval{std::chrono::seconds(60)};
};

struct ShutdownConfig {
  Duration grace{std::chrono::seconds(20)};      // in-flight polls may finish within this
  // After the grace period: time allowed to hand ids back to Redis and flush
  // writes before exiting anyway (unreturned ids come back when their lease ends).
  Duration hand_back_timeout{std::chrono::seconds(5)};
};

struct Config {
  std::string source_file;
  ProviderConfig provider;
  RedisConfig redis;
  PostgresConfig postgres;
  PollConfig poll;
  // Provider word (lower case, single spaces) -> local status value.
  std::map<std::string, std::string> status_map;
  HealthConfig health;
  LogConfig log;
  ShutdownConfig shutdown;
};

// Thrown for any problem with the configuration; what() reads
// "<file>: <key>: <problem>" in English, or "<file>: <problem>" when the
// problem concerns the whole file.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, std::string key, ErrorText problem);
  const std::string& file() const { return file_; }
  const std::string& key() const { return key_; }
  // The problem in English.
  const std::string& problem() const { return problem_; }
  // The problem as a template and arguments, for translation.
  const ErrorText& problem_text() const { return problem_text_; }

 private:
  std::string file_;
  std::string key_;
  std::string problem_;
  ErrorText problem_text_;
};

// Environment variable lookups used by a load, so tests can pass their own.
struct Environment {
  virtual ~Environment() = default;
  virtual const char* get(const char* name) const = 0;
};
const Environment& process_environment();

// Loads and validates `path`, then applies the CENTRALSMM_* variables and
// files under $CREDENTIALS_DIRECTORY. Throws ConfigError.
Config load_file(const std::string& path, const Environment& env = process_environment());

// Loads from TOML text (for tests); `source_name` replaces the file name in errors.
Config load_string(const std::string& text, const std::string& source_name,
                   const Environment& env = process_environment());

// Throws ConfigError naming the first provider secret (api_id, api_key,
// secret_key) that no source set. Only `run` needs them; the queue
// subcommands work without.
void require_secrets(const Config& config);

// Renders the effective configuration as TOML with secrets redacted.
std::string render_effective(const Config& config);

// Returns `url_or_conninfo` with its password replaced by "[redacted]": the
// ":password@" part of a URI (redis://:pw@host, postgresql://user:pw@host),
// a "password=" URI query parameter, or the password keyword of a libpq
// key/value string. For logs and check-config; never throws.
std::string redact_password(const std::string& url_or_conninfo);

// Parses "20ms", "15s", "5m", "2h", "30d". Throws std::invalid_argument with
// a readable message on anything else.
Duration parse_duration(const std::string& text);

}  // namespace smm::config
