#include "log/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "log/detail/line_formatter.hpp"

namespace smm::log {
namespace {

constexpr const char* kDefaultComponent = "daemon";

spdlog::level::level_enum parse_level(const std::string& name) {
  if (name == "trace") return spdlog::level::trace;
  if (name == "debug") return spdlog::level::debug;
  if (name == "warn") return spdlog::level::warn;
  if (name == "error") return spdlog::level::err;
  return spdlog::level::info;  // the config loader accepts no other names
}

spdlog::sink_ptr make_sink(detail::Format format, bool journald, spdlog::sink_ptr sink) {
  sink->set_formatter(std::make_unique<detail::LineFormatter>(format, journald));
  return sink;
}

// The shared sink and level, and every component logger made so far, so
// setup() can move them all to a new sink.
struct State {
  std::mutex mutex;
  spdlog::sink_ptr sink;
  spdlog::level::level_enum level = spdlog::level::info;
  std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>> loggers;
};

State& state() {
  static State instance;
  return instance;
}

// Creates the logger of `component`; the caller holds the state's mutex.
std::shared_ptr<spdlog::logger> make_logger(State& current, std::string_view component) {
  if (!current.sink) {
    current.sink = make_sink(detail::Format::text, journald_stream(),
                             std::make_shared<spdlog::sinks::stderr_sink_mt>());
  }
  auto logger = std::make_shared<spdlog::logger>(std::string(component), current.sink);
  logger->set_level(current.level);
  current.loggers.emplace(std::string(component), logger);
  return logger;
}

}  // namespace

void setup(const config::LogConfig& config, spdlog::sink_ptr sink, bool journald) {
  const auto format = config.format == "json" ? detail::Format::json : detail::Format::text;
  auto& current = state();
  std::lock_guard lock(current.mutex);
  current.sink = make_sink(format, journald, std::move(sink));
  current.level = parse_level(config.level);
  for (auto& [name, logger] : current.loggers) {
    logger->sinks().assign(1, current.sink);
    logger->set_level(current.level);
  }

  auto fallback = current.loggers.find(kDefaultComponent);
  auto daemon = fallback != current.loggers.end() ? fallback->second : make_logger(current, kDefaultComponent);
  spdlog::set_default_logger(daemon);
}

void setup(const config::LogConfig& config) {
  setup(config, std::make_shared<spdlog::sinks::stderr_sink_mt>(), journald_stream());
}

bool is_journal_stream(const char* journal_stream, int fd) {
  if (journal_stream == nullptr) return false;
  const std::string_view text(journal_stream);
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return false;

  unsigned long long device = 0;
  unsigned long long inode = 0;
  const auto device_text = text.substr(0, colon);
  const auto inode_text = text.substr(colon + 1);
  auto parsed_device = std::from_chars(device_text.data(), device_text.data() + device_text.size(), device);
  auto parsed_inode = std::from_chars(inode_text.data(), inode_text.data() + inode_text.size(), inode);
  if (parsed_device.ec != std::errc() || parsed_device.ptr != device_text.data() + device_text.size() ||
      parsed_inode.ec != std::errc() || parsed_inode.ptr != inode_text.data() + inode_text.size()) {
    return false;
  }

  struct stat info {};
  if (fstat(fd, &info) != 0) return false;
  return info.st_dev == device && info.st_ino == inode;
}

bool journald_stream() { return is_journal_stream(std::getenv("JOURNAL_STREAM"), STDERR_FILENO); }

std::shared_ptr<spdlog::logger> get(const char* component) {
  auto& current = state();
  std::lock_guard lock(current.mutex);
  auto found = current.loggers.find(std::string_view(component));
  if (found != current.loggers.end()) return found->second;
  return make_logger(current, component);
}

}  // namespace smm::log
