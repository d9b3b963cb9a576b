#pragma once
// HTTP/1.1 transport of the fake provider, plain or over TLS: Boost.Beast on one Asio thread,
// keep-alive, a 64 KiB request body limit and a 30 s idle timeout.

#include "options.hpp"

namespace smm::fake {

// Listens on options.listen_host:listen_port, writes the bound port to
// options.port_file, and serves until SIGTERM or SIGINT. Returns the exit
// code; throws boost::system::system_error when it cannot listen.
int run_server(const Options& options);

}  // namespace smm::fake
