#pragma once
// The operations HTTP endpoint, served with Boost.Beast on the daemon's
// io_context:
//   GET /healthz, /livez  200 while the event loop keeps time, else 503
//   GET /readyz           200 when every check passes, else 503; the JSON
//                         body names each check and its state
//   GET /metrics          the Prometheus text format 0.0.4
// Unknown paths get 404, other methods on known paths 405. A request whose
// header or body exceeds max_request_bytes gets 431 or 413, and the
// connection is closed. A client that takes longer than read_timeout to
// send a request or read a response is disconnected. Connections beyond
// max_connections are closed as soon as they are accepted. Every step is
// asynchronous, so a slow or hostile client costs the sync work nothing
// beyond its share of handler time.
//
// Thread-safety: none; all calls and handlers on the io_context thread.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"

namespace smm::health {

// One readiness check as reported by /readyz: {"redis": "up"} and so on.
struct Check {
  std::string name;
  bool ok = false;
  std::string state;  // short word shown in the body: "up", "down", "open" ...
};

struct LoopState {
  bool healthy = true;
  double lag_seconds = 0.0;
};

// The data behind each path. Each function runs on every request to its
// path, so each must be cheap.
struct Sources {
  std::function<LoopState()> loop;
  std::function<std::vector<Check>()> checks;
  std::function<std::string()> metrics;
};

struct Response {
  int status = 200;
  std::string content_type;
  std::string body;
  bool allow_get_only = false;  // adds "Allow: GET" (to 405 responses)
};

// The routing decision for one request, with no sockets. `target` may carry
// a query string, which is ignored.
Response handle_request(std::string_view method, std::string_view target, const Sources& sources);

// Responses sent by status code, and connections closed because
// max_connections were already open.
struct ServerStats {
  std::map<int, std::uint64_t> responses;
  std::uint64_t connections_rejected = 0;
  std::uint64_t open_connections = 0;
};

namespace detail {
struct ServerState;
}

class Server {
 public:
  Server(boost::asio::io_context& io, const config::HealthConfig& config, Sources sources);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds health.listen, writes the bound port to health.port_file when set,
  // and starts accepting. Returns the bound port. Throws std::runtime_error
  // naming the address when it cannot listen or write the port file; this
  // happens at start-up only.
  unsigned short start();

  // Closes the listening socket and every open connection.
  void stop();

  const ServerStats& stats() const;

 private:
  std::shared_ptr<detail::ServerState> state_;
};

}  // namespace smm::health
