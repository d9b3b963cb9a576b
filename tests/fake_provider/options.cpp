#include "options.hpp"

#include <boost/asio/ip/address.hpp>
#include <CLI/CLI.hpp>

#include <charconv>
#include <cstdlib>
#include <iostream>
#include <limits>

namespace smm::fake {
namespace {

// Splits "HOST:PORT" or "[V6]:PORT"; throws CLI::ValidationError when the
// text is invalid or the host is not a loopback address.
void parse_listen(const std::string& text, Options* options) {
  std::size_t colon = text.rfind(':');
  if (colon == std::string::npos) throw CLI::ValidationError("--listen", "expected HOST:PORT, got " + text);

  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";

  unsigned port = 0;
  std::string port_text = text.substr(colon + 1);
  auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    throw CLI::ValidationError("--listen", "invalid port in " + text);
  }

  boost::system::error_code address_error;
  auto address = boost::asio::ip::make_address(host, address_error);
  if (address_error || !address.is_loopback()) {
    throw CLI::ValidationError("--listen", "the fake provider binds loopback addresses only, got " + host);
  }
  options->listen_host = host;
  options->listen_port = static_cast<std::uint16_t>(port);
}

void add_fault_options(CLI::App& app, FaultSettings& faults) {
  const CLI::Range probability(0.0, 1.0);
  app.add_option("--rate-429", faults.rate_429, "Probability of HTTP 429 with Retry-After and an HTML body")
      ->check(probability);
  app.add_option("--retry-after", faults.retry_after_s, "Retry-After of those 429 answers, in seconds")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--rate-5xx", faults.rate_5xx, "Probability of HTTP 500/502/503 with an HTML body")
      ->check(probability);
  app.add_option("--rate-html", faults.rate_html, "Probability of HTTP 200 with a \"Just a moment...\" page")
      ->check(probability);
  app.add_option("--rate-malformed", faults.rate_malformed, "Probability of HTTP 200 with truncated JSON")
      ->check(probability);
  app.add_option("--rate-slow", faults.rate_slow, "Probability of answering after --slow-ms")->check(probability);
  app.add_option("--slow-ms", faults.slow_ms, "Delay of slow answers, in milliseconds")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--latency-ms", faults.latency_ms, "Delay of every answer, in milliseconds")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--chaos", faults.chaos, "Give each status answer a random quirk of real providers");
  app.add_option("--server-rate-limit", faults.server_rate_limit,
                 "Status requests per second before HTTP 429 (GCRA); 0 turns the limit off")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--server-burst", faults.server_burst, "Requests allowed at once under --server-rate-limit")
      ->check(CLI::PositiveNumber);
}

}  // namespace

Options parse_options(int argc, char** argv) {
  Options options;
  CLI::App app{"Fake CentralSMM provider for tests and benchmarks; serves POST /api/status, "
               "GET /stats, GET /truth?id=ID and POST /control on a loopback address."};

  std::string listen = "127.0.0.1:0";
  app.add_option("--listen", listen, "Loopback HOST:PORT to listen on; port 0 picks a free one")
      ->capture_default_str();
  app.add_option("--port-file", options.port_file, "File that receives the bound port once listening");
  auto* cert = app.add_option("--tls-cert", options.tls_cert_file,
                              "PEM certificate chain; with --tls-key the server speaks HTTPS only")
                   ->check(CLI::ExistingFile);
  auto* key = app.add_option("--tls-key", options.tls_key_file, "PEM private key of --tls-cert")
                  ->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);
  app.add_option("--api-id", options.api_id, "Expected api_id")->required();
  app.add_option("--api-key", options.api_key, "Expected api_key")->required();
  app.add_option("--secret-key", options.secret_key, "Expected secret_key")->required();
  app.add_option("--polls-to-final", options.polls_to_final, "Well-formed answers until an id is final")
      ->capture_default_str()
      ->check(CLI::Range(1U, std::numeric_limits<std::uint32_t>::max()));
  app.add_flag("--numbers-as-strings", options.numbers_as_strings, "Send every number in data as a JSON string");
  app.add_option("--seed", options.seed, "Seed of the fault and chaos choices")->capture_default_str();
  add_fault_options(app, options.faults);

  try {
    app.parse(argc, argv);
    parse_listen(listen, &options);
  } catch (const CLI::ParseError& error) {
    std::exit(app.exit(error));
  }
  return options;
}

}  // namespace smm::fake
