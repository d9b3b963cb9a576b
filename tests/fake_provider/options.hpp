#pragma once
// Command-line options of the fake provider, and the fault settings that
// POST /control may change while it runs.

#include <cstdint>
#include <string>

namespace smm::fake {

// Fault injection; every rate is a probability per status request in [0, 1].
struct FaultSettings {
  double rate_429 = 0;
  std::int64_t retry_after_s = 1;  // Retry-After of the rate_429 responses, seconds
  double rate_5xx = 0;             // 500, 502 or 503 with an HTML body
  double rate_html = 0;            // 200 with a "Just a moment..." page
  double rate_malformed = 0;       // 200 with truncated JSON
  double rate_slow = 0;
  std::int64_t slow_ms = 3000;     // delay of the rate_slow responses
  std::int64_t latency_ms = 0;     // delay of every status response
  bool chaos = false;              // each answer picks a random quirk
  bool down = false;               // every status request gets 503
  double server_rate_limit = 0;    // status requests per second; 0 = no limit
  std::int64_t server_burst = 1;   // requests allowed at once under the limit
};

struct Options {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;
  std::string port_file;
  // PEM files; when both are set the server speaks HTTPS only.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string api_id;
  std::string api_key;
  std::string secret_key;
  std::uint32_t polls_to_final = 3;
  bool numbers_as_strings = false;
  std::uint64_t seed = 1;
  FaultSettings faults;
};

// Parses argv. Prints help or the error and exits on --help or invalid
// options, including a --listen host that is not a loopback address.
Options parse_options(int argc, char** argv);

}  // namespace smm::fake
