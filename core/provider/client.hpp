#pragma once
// Asynchronous client for the CentralSMM status call, on libcurl's multi
// interface driven by an Asio io_context.
//
// Thread-safety: none; every call and callback runs on the io_context's
// thread. Cancellation: stop() aborts all transfers, each callback then runs
// once with errc::shutting_down. Rate limits and in-flight caps are the
// caller's job; this class only performs requests.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "provider/status_parser.hpp"

namespace smm::provider {

// The outcome of one status request.
struct FetchResult {
  // Set for failures below HTTP: DNS, connect, TLS, timeout (errc::http_timeout),
  // an answer over max_response_bytes (errc::http_body_too_large).
  std::error_code transport_error;
  std::string transport_detail;                  // curl's own error text, when set
  long http_status = 0;                          // 0 when no response arrived
  std::optional<std::chrono::seconds> retry_after;  // from a Retry-After header
  std::chrono::microseconds latency{0};
  // The parsed body; only meaningful when transport_error is empty.
  ParseResult answer{MalformedAnswer{"no answer", ""}};
};

class Client {
 public:
  using Callback = std::function<void(FetchResult)>;

  Client(boost::asio::io_context& io, const config::ProviderConfig& config);
  // Drops every transfer without running its callback; callbacks already
  // posted but not yet run are skipped too.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Starts one POST {base_url}/api/status for `order_id`. `done` runs exactly
  // once, on the io_context thread, never from inside this call.
  void fetch_status(const std::string& order_id, Callback done);

  // Aborts every transfer; their callbacks run with errc::shutting_down.
  void stop();

  std::size_t in_flight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace smm::provider
