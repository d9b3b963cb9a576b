#pragma once
// The subcommands of smm-syncd. Each returns the process exit code:
// 0 success, 1 runtime failure (a server unreachable, a command failed).
// Bad usage and bad config (exit 2) are handled in main before these run.

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace smm::daemon {

int run_daemon(const config::Config& config);
int check_config(const config::Config& config);
int enqueue(const config::Config& config, const std::vector<std::string>& ids);
int stats(const config::Config& config);
int dead_letters(const config::Config& config, bool requeue, const std::vector<std::string>& ids,
                 std::int64_t limit);
int migrate(const config::Config& config);

}  // namespace smm::daemon
