// Fake CentralSMM provider for the integration tests and the benchmark: a
// loopback HTTP server that serves POST /api/status with a deterministic
// progression per order id and can inject the faults real providers show.

#include <cstdio>
#include <exception>

#include "http_server.hpp"
#include "options.hpp"

int main(int argc, char** argv) {
  smm::fake::Options options = smm::fake::parse_options(argc, argv);
  try {
    return smm::fake::run_server(options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "fake_provider_failed error=\"%s\"\n", error.what());
    return 1;
  }
}
