// The short-lived subcommands: each runs one queue or store operation on
// its own io_context and prints the result.

#include <chrono>
#include <iostream>
#include <optional>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "queue/queue.hpp"
#include "store/store.hpp"

namespace smm::daemon {
namespace {

// Connects a Queue, runs `operation` once connected, and returns its exit
// code; gives up after the Redis command timeout plus the reconnect ceiling.
template <typename Operation>
int with_queue(const config::Config& config, Operation operation) {
  spdlog::set_level(spdlog::level::warn);
  boost::asio::io_context io;
  queue::Queue queue(io, config.redis, config.poll);
  std::optional<int> result;
  bool started = false;

  boost::asio::steady_timer deadline(io);
  deadline.expires_after(config.redis.command_timeout + config.redis.reconnect_max);
  deadline.async_wait([&](boost::system::error_code error) {
    if (error || result) return;
    std::cerr << "smm-syncd: could not reach Redis at the configured url within "
              << std::chrono::duration_cast<std::chrono::seconds>(
                     config.redis.command_timeout + config.redis.reconnect_max).count()
              << "s\n";
    result = 1;
    queue.stop();
    io.stop();
  });

  queue.start([&](bool connected) {
    if (!connected || started) return;
    started = true;
    operation(queue, [&](int code) {
      result = code;
      deadline.cancel();
      queue.stop();
      io.stop();
    });
  });
  io.run();
  return result.value_or(1);
}

void print_error(const char* what, std::error_code error) {
  std::cerr << "smm-syncd: " << what << " failed: " << error.message() << "\n";
}

}  // namespace

int check_config(const config::Config& config) {
  std::cout << "# " << config.source_file << ": configuration is valid\n"
            << config::render_effective(config);
  return 0;
}

int enqueue(const config::Config& config, const std::vector<std::string>& ids) {
  return with_queue(config, [&](queue::Queue& queue, auto finish) {
    queue.enqueue(ids, [finish](std::error_code error, int count) {
      if (error) {
        print_error("enqueue", error);
        finish(1);
        return;
      }
      std::cout << "enqueued " << count << " order id(s)\n";
      finish(0);
    });
  });
}

int stats(const config::Config& config) {
  return with_queue(config, [&](queue::Queue& queue, auto finish) {
    queue.stats([&queue, &config, finish](std::error_code error, queue::Stats stats) {
      if (error) {
        print_error("stats", error);
        finish(1);
        return;
      }
      std::cout << "inbox            " << stats.inbox << "\n"
                << "scheduled        " << stats.scheduled << "\n"
                << "due now          " << stats.due_now << "\n"
                << "oldest due age   " << stats.oldest_due_age_seconds << " s\n"
                << "leased           " << stats.leased << "\n"
                << "dead             " << stats.dead << "\n";

      // Asking for zero send times reads the shared provider state and
      // reserves nothing.
      queue::RateRequest read_only;
      read_only.rate_per_second = config.provider.rate_limit;
      read_only.recovery_per_second = config.provider.throttle_recovery;
      queue.acquire_rate(read_only, [finish](std::error_code rate_error, queue::RateGrant grant) {
        if (rate_error) {
          print_error("reading the provider state", rate_error);
          finish(1);
          return;
        }
        std::cout << "provider circuit " << (grant.circuit_open ? "open" : "closed") << "\n"
                  << "provider pause   " << static_cast<double>(grant.pause_remaining_us) / 1e6 << " s\n"
                  << "rate factor      " << grant.rate_factor << "\n";
        finish(0);
      });
    });
  });
}

int dead_letters(const config::Config& config, bool requeue, const std::vector<std::string>& ids,
                 std::int64_t limit) {
  if (requeue) {
    return with_queue(config, [&](queue::Queue& queue, auto finish) {
      queue.requeue_dead(ids, [finish, given = ids.size()](std::error_code error, int count) {
        if (error) {
          print_error("requeue", error);
          finish(1);
          return;
        }
        std::cout << "requeued " << count << " order id(s)\n";
        // An id may appear in several entries, so this is a hint, not an error.
        if (given > 0 && static_cast<std::size_t>(count) < given) {
          std::cerr << "smm-syncd: " << given - static_cast<std::size_t>(count)
                    << " of the given id(s) were not found in the dead list\n";
        }
        finish(0);
      });
    });
  }
  return with_queue(config, [&](queue::Queue& queue, auto finish) {
    queue.dead_letters(limit, [finish](std::error_code error,
                                       std::vector<queue::DeadLetter> letters) {
      if (error) {
        print_error("dead-letters", error);
        finish(1);
        return;
      }
      for (const auto& letter : letters) std::cout << letter.json << "\n";
      std::cerr << letters.size() << " dead letter(s) listed\n";
      finish(0);
    });
  });
}

int migrate(const config::Config& config) {
  spdlog::set_level(spdlog::level::warn);
  boost::asio::io_context io;
  store::Store store(io, config.postgres, config.poll.final_statuses);
  int code = 1;

  boost::asio::steady_timer deadline(io);
  deadline.expires_after(config.postgres.connect_timeout + config.postgres.statement_timeout);
  deadline.async_wait([&](boost::system::error_code error) {
    if (error) return;
    std::cerr << "smm-syncd: could not reach PostgreSQL in time\n";
    io.stop();
  });

  store.start(
      [&](bool ready) {
        if (!ready) return;
        std::cout << "table " << config.postgres.table
                  << " and its columns are usable; smm-syncd keeps its own state in Redis, so "
                     "there is nothing to create\n";
        code = 0;
        io.stop();
      },
      [&](std::error_code error, const std::string& detail) {
        std::cerr << "smm-syncd: " << error.message() << ": " << detail << "\n";
        io.stop();
      });
  io.run();
  return code;
}

}  // namespace smm::daemon
