// Fuzz target for smm::config::load_string: any bytes as the TOML config.
// A bad file must end in ConfigError, never another exception or a crash,
// and a loaded config must render (check-config) to TOML that loads again.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "config/config.hpp"
#include "fuzz_check.hpp"

namespace {

using smm::fuzz::require;

// No variables at all, so runs do not depend on the fuzzing machine and the
// loader never reads systemd credential files.
class EmptyEnvironment final : public smm::config::Environment {
 public:
  const char* get(const char*) const override { return nullptr; }
};

void check_loaded(const smm::config::Config& config, const EmptyEnvironment& env) {
  std::string rendered = smm::config::render_effective(config);
  smm::config::redact_password(config.redis.url);
  smm::config::redact_password(config.postgres.conninfo);

  try {
    smm::config::load_string(rendered, "rendered.toml", env);
  } catch (const smm::config::ConfigError& error) {
    std::fprintf(stderr, "rendered config:\n%s\nerror: %s\n", rendered.c_str(), error.what());
    require(false, "the rendered config of a valid config loads again");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  const EmptyEnvironment env;

  // redact_password never throws and takes any text.
  smm::config::redact_password(text);

  smm::config::Config config;
  try {
    config = smm::config::load_string(text, "fuzz.toml", env);
  } catch (const smm::config::ConfigError& error) {
    require(error.what()[0] != '\0', "a config error has a message");
    return 0;
  }
  check_loaded(config, env);
  return 0;
}
