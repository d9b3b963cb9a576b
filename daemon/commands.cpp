// The short-lived subcommands: each runs one queue or store operation on
// its own io_context and prints the result.

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "i18n.hpp"
#include "queue/queue.hpp"
#include "store/store.hpp"

namespace smm::daemon {
namespace {

using i18n::format;
using i18n::tr;

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
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        config.redis.command_timeout + config.redis.reconnect_max);
    std::cerr << "smm-syncd: "
              << format(tr("could not reach Redis within %lld ms; check redis.url in the "
                           "configuration"),
                        static_cast<long long>(waited.count()))
              << "\n";
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

// Prints "smm-syncd: <message>" to stderr; `message` is already translated.
void print_error(const std::string& message) { std::cerr << "smm-syncd: " << message << "\n"; }

// Stats lines are "<label> <value>", with the values in one column.
struct StatsLabels {
  const char* inbox = tr("inbox");
  const char* scheduled = tr("scheduled");
  const char* due_now = tr("due now");
  const char* oldest_due_age = tr("oldest due age");
  const char* leased = tr("leased");
  const char* dead = tr("dead");
  const char* circuit = tr("provider circuit");
  const char* pause = tr("provider pause");
  const char* rate_factor = tr("rate factor");

  // One more than the longest label, counted in bytes: the Indonesian
  // labels are ASCII, so bytes are columns.
  int width() const {
    std::size_t longest = 0;
    for (const char* label : {inbox, scheduled, due_now, oldest_due_age, leased, dead, circuit,
                              pause, rate_factor}) {
      longest = std::max(longest, std::strlen(label));
    }
    return static_cast<int>(longest) + 1;
  }
};

// Formats `value` with `digits` decimals. Indonesian writes a decimal comma
// and reads a point as a thousands separator.
std::string decimal(double value, int digits) {
  std::string text = fmt::format("{:.{}f}", value, digits);
  if (i18n::current_language() == i18n::Language::Indonesian) {
    std::replace(text.begin(), text.end(), '.', ',');
  }
  return text;
}

std::string stats_line(const StatsLabels& labels, const char* label, const std::string& value) {
  return format("%-*s%s\n", labels.width(), label, value.c_str());
}

}  // namespace

int check_config(const config::Config& config) {
  std::cout << "# " << format(tr("%s: configuration is valid"), config.source_file.c_str()) << "\n"
            << "# " << format(tr("Effective configuration loaded from %s"), config.source_file.c_str())
            << "\n\n"
            << config::render_effective(config);
  return 0;
}

int enqueue(const config::Config& config, const std::vector<std::string>& ids) {
  return with_queue(config, [&](queue::Queue& queue, auto finish) {
    queue.enqueue(ids, [finish](std::error_code error, int count) {
      if (error) {
        print_error(format(tr("enqueue failed: %s"), error.message().c_str()));
        finish(1);
        return;
      }
      std::cout << format(tr("enqueued %d order id(s)"), count) << "\n";
      finish(0);
    });
  });
}

int stats(const config::Config& config) {
  return with_queue(config, [&](queue::Queue& queue, auto finish) {
    queue.stats([&queue, &config, finish](std::error_code error, queue::Stats stats) {
      if (error) {
        print_error(format(tr("stats failed: %s"), error.message().c_str()));
        finish(1);
        return;
      }
      const StatsLabels labels;
      // TRANSLATORS: the unit symbol for seconds after a number.
      const char* seconds = tr("s");
      std::cout << stats_line(labels, labels.inbox, std::to_string(stats.inbox))
                << stats_line(labels, labels.scheduled, std::to_string(stats.scheduled))
                << stats_line(labels, labels.due_now, std::to_string(stats.due_now))
                << stats_line(labels, labels.oldest_due_age,
                              decimal(stats.oldest_due_age_seconds, 3) + " " + seconds)
                << stats_line(labels, labels.leased, std::to_string(stats.leased))
                << stats_line(labels, labels.dead, std::to_string(stats.dead));

      // Asking for zero send times reads the shared provider state and
      // reserves nothing.
      queue::RateRequest read_only;
      read_only.rate_per_second = config.provider.rate_limit;
      read_only.recovery_per_second = config.provider.throttle_recovery;
      queue.acquire_rate(read_only, [finish, labels, seconds](std::error_code rate_error,
                                                              queue::RateGrant grant) {
        if (rate_error) {
          print_error(format(tr("reading the provider state failed: %s"),
                             rate_error.message().c_str()));
          finish(1);
          return;
        }
        const double pause_seconds = static_cast<double>(grant.pause_remaining_us) / 1e6;
        std::cout << stats_line(labels, labels.circuit,
                                grant.circuit_open ? tr("open (polling stopped)") : tr("closed (polling normally)"))
                  << stats_line(labels, labels.pause, decimal(pause_seconds, 1) + " " + seconds)
                  << stats_line(labels, labels.rate_factor, decimal(grant.rate_factor, 2));
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
          print_error(format(tr("requeue failed: %s"), error.message().c_str()));
          finish(1);
          return;
        }
        std::cout << format(tr("requeued %d order id(s)"), count) << "\n";
        // An id may appear in several entries, so this is a hint, not an error.
        if (given > 0 && static_cast<std::size_t>(count) < given) {
          print_error(format(tr("%zu of the given id(s) were not found in the dead list"),
                             given - static_cast<std::size_t>(count)));
        }
        finish(0);
      });
    });
  }
  return with_queue(config, [&](queue::Queue& queue, auto finish) {
    queue.dead_letters(limit, [finish](std::error_code error,
                                       std::vector<queue::DeadLetter> letters) {
      if (error) {
        print_error(format(tr("dead-letters failed: %s"), error.message().c_str()));
        finish(1);
        return;
      }
      for (const auto& letter : letters) std::cout << letter.json << "\n";
      std::cerr << format(tr("%zu dead letter(s) listed"), letters.size()) << "\n";
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
    print_error(tr("could not reach PostgreSQL in time"));
    io.stop();
  });

  store.start(
      [&](bool ready) {
        if (!ready) return;
        std::cout << format(tr("table %s and its columns are usable; smm-syncd keeps its own "
                               "state in Redis, so there is nothing to create"),
                            config.postgres.table.c_str())
                  << "\n";
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
