#pragma once

#include "config/config.hpp"

namespace smm::config::detail {

// Checks the values of a loaded config against each other and against
// their allowed ranges. Throws ConfigError naming the first bad key. The
// provider secrets are checked by the loader, after every source is applied.
void validate(const Config& config);

}  // namespace smm::config::detail
