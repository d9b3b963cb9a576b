#pragma once
// The table of every TOML key the loader accepts: how each is read into a
// Config and how its effective value is printed. One table serves both, so
// a key cannot be loadable yet missing from check-config, or the reverse.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "config/config.hpp"

namespace smm::config::detail {

struct Field {
  std::string_view key;
  // Stores the value of `node` in `config`. Returns the problem when the
  // value has the wrong type or cannot be represented, else nullopt.
  std::optional<ErrorText> (*read)(Config& config, const toml::node& node);
  // The effective value as a TOML value, with secrets and passwords redacted.
  std::string (*render)(const Config& config);
};

struct Section {
  std::string_view name;
  std::vector<Field> fields;
};

// Every section except [status_map], whose keys are free-form, in the order
// of the example config.
const std::vector<Section>& sections();

// The TOML type name of a node ("string", "integer", "float", "table" ...).
std::string_view type_name(const toml::node& node);

// A key as written in TOML: bare when it can be, quoted otherwise.
std::string toml_key(std::string_view key);

}  // namespace smm::config::detail
