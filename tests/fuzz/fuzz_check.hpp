#pragma once
// A check for the fuzz targets' properties. A broken property aborts, which
// libFuzzer reports as a crash and saves the input for; the corpus replay
// programs fail the same way.

#include <cstdio>
#include <cstdlib>

namespace smm::fuzz {

inline void require(bool condition, const char* property) {
  if (condition) return;
  std::fprintf(stderr, "fuzz property broken: %s\n", property);
  std::abort();
}

}  // namespace smm::fuzz
