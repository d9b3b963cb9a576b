#pragma once
// Process-wide logging: one stderr sink shared by a logger per component
// ("queue", "store", "provider" ...), all with the level and format of the
// [log] config. Lines are an event name then key=value fields, e.g.
//   2026-12-04T20:31:05.123Z info queue redis_connected host=127.0.0.1 port=6379
// When stderr is connected to journald the timestamp is dropped (journald
// adds its own) and a "<N>" syslog priority prefix sets the entry's level:
//   <6>queue redis_connected host=127.0.0.1 port=6379
// The json format prints one object per line instead:
//   {"ts":"...","level":"info","component":"queue","event":"redis_connected","msg":"..."}
//
// Thread-safety: get() and logging are safe from any thread. setup() swaps
// the sink of every logger and must run before other threads log, as at
// start-up.

#include <memory>

#include <spdlog/logger.h>

#include "config/config.hpp"

namespace smm::log {

// Configures logging to stderr. Loggers returned by get() earlier are
// reconfigured too, and spdlog's default logger (used by spdlog::info and
// friends) becomes the "daemon" component logger.
void setup(const config::LogConfig& config);

// As setup(config), writing to `sink`, in the journald form when
// `journald` is true. For tests.
void setup(const config::LogConfig& config, spdlog::sink_ptr sink, bool journald);

// Returns true when stderr is the stream systemd connected to journald.
bool journald_stream();

// Returns true when `journal_stream` (the value of $JOURNAL_STREAM,
// "<device>:<inode>" in decimal) names the file open on `fd`.
bool is_journal_stream(const char* journal_stream, int fd);

// Returns the logger of `component`, creating it on first use. Before
// setup() it writes text to stderr at info level.
std::shared_ptr<spdlog::logger> get(const char* component);

}  // namespace smm::log
