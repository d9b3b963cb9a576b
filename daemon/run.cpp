// `smm-syncd run`: wires the queue, the provider client, the store, the
// sync engine and the operations surface (health endpoint, metrics, systemd
// notifications) on one io_context, and handles SIGTERM/SIGINT.

#include <csignal>
#include <memory>
#include <stdexcept>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "commands.hpp"
#include "log/log.hpp"
#include "provider/client.hpp"
#include "queue/queue.hpp"
#include "store/store.hpp"
#include "sync/engine.hpp"
#include "telemetry.hpp"

namespace smm::daemon {
namespace {

// Tells systemd (when NOTIFY_SOCKET is set) that start-up is done once both
// Redis and PostgreSQL are connected, and nothing more after that.
class Readiness {
 public:
  void set_queue(bool connected) { queue_ = connected; update(); }
  void set_store(bool ready) { store_ = ready; update(); }

 private:
  void update() {
    if (notified_ || !queue_ || !store_) return;
    notified_ = true;
    sd_notify(0, "READY=1\nSTATUS=connected to Redis and PostgreSQL");
    spdlog::info("daemon_ready");
  }

  bool queue_ = false;
  bool store_ = false;
  bool notified_ = false;
};

}  // namespace

int run_daemon(const config::Config& config) {
  log::setup(config.log);
  spdlog::info("daemon_starting version={} config={}", SMM_VERSION, config.source_file);

  boost::asio::io_context io;
  queue::Queue queue(io, config.redis, config.poll);
  provider::Client client(io, config.provider);
  store::Store store(io, config.postgres, config.poll.final_statuses);
  auto engine = std::make_shared<sync::Engine>(io, config, queue, client, store);
  Telemetry telemetry(io, config, queue, store, engine);
  engine->set_latency_observer(
      [&telemetry](std::chrono::microseconds latency) { telemetry.provider_latency().observe(latency); });

  Readiness readiness;
  int exit_code = 0;
  bool stopping = false;

  auto shut_down = [&](int code) {
    if (stopping) return;
    stopping = true;
    exit_code = code;
    sd_notify(0, "STOPPING=1");
    telemetry.set_stopping();
    engine->stop([&] {
      store.stop([&] {
        queue.stop();
        client.stop();
        telemetry.stop();
        io.stop();
      });
    });
  };

  // Listening first: a port already in use ends the start-up before any work.
  try {
    telemetry.start();
  } catch (const std::runtime_error& error) {
    spdlog::error("health_listen_failed error=\"{}\" action=exit", error.what());
    return 1;
  }

  // No id is claimed before the table has been checked once: with a wrong
  // table or column the daemon exits at once instead of polling orders it
  // cannot write.
  bool table_checked = false;
  bool queue_connected = false;

  store.start([&](bool ready) {
                readiness.set_store(ready);
                if (!ready || table_checked) return;
                table_checked = true;
                if (queue_connected) engine->on_queue_state(true);
              },
              [&](std::error_code error, const std::string& detail) {
                spdlog::error("postgres_schema_error error=\"{}\" detail=\"{}\" action=exit",
                              error.message(), detail);
                shut_down(1);
              });
  queue.start([&](bool connected) {
    readiness.set_queue(connected);
    queue_connected = connected;
    if (table_checked) engine->on_queue_state(connected);
  });
  engine->start();

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code error, int signal_number) {
    if (error) return;
    spdlog::info("signal_received signal={}", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
    shut_down(0);
  });

  io.run();
  spdlog::info("daemon_stopped exit_code={}", exit_code);
  spdlog::default_logger()->flush();
  return exit_code;
}

}  // namespace smm::daemon
