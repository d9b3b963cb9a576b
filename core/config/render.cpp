// check-config output: every key with its effective value, as TOML that
// load_string reads back (secrets aside, which print as a redaction mark).

#include <string>

#include <fmt/format.h>

#include "config/config.hpp"
#include "config/detail/fields.hpp"
#include "config/detail/text.hpp"

namespace smm::config {
namespace {

void render_section(const detail::Section& section, const Config& config, std::string& out) {
  out += fmt::format("[{}]\n", section.name);
  for (const auto& field : section.fields) {
    out += fmt::format("{} = {}\n", field.key, field.render(config));
  }
  out += "\n";
}

void render_status_map(const Config& config, std::string& out) {
  out += "[status_map]\n";
  for (const auto& [word, local] : config.status_map) {
    out += fmt::format("{} = {}\n", detail::toml_key(word), detail::toml_quote(local));
  }
  out += "\n";
}

}  // namespace

std::string render_effective(const Config& config) {
  std::string out;
  for (const auto& section : detail::sections()) {
    render_section(section, config, out);
    // [status_map] sits after [poll], as in the example config.
    if (section.name == "poll") render_status_map(config, out);
  }
  out.pop_back();  // the blank line after the last section
  return out;
}

}  // namespace smm::config
