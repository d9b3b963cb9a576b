#pragma once
// Terminal texts of the command line that come from other code in English:
// CLI11's help labels and usage errors, configuration errors from
// core/config and the reasons of parse_order_id. Each is shown in the
// message language that i18n::init() chose.

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

#include "config/config.hpp"

namespace smm::daemon {

// Translates CLI11's help headings, the help and version flags, and the
// usage errors that CLI11 reports. Call before adding any subcommand,
// because subcommands copy these settings from their parent.
void localize_cli(CLI::App& app);

// Returns the text for a usage error CLI11 raised, naming the option or
// argument and the value. Errors it does not recognise keep CLI11's
// English text.
std::string describe_usage_error(const CLI::Error& error);

// A check that an option's value is a whole number in [min, max], with a
// translated message and no text of its own in the help (CLI::Range's is
// English).
CLI::Validator whole_number_in(std::int64_t min, std::int64_t max);

// Returns "<file>: <key>: <problem>", or "<file>: <problem>" for a problem
// with the whole file, with the problem translated.
std::string describe_config_error(const config::ConfigError& error);

// Returns the translation of a reason from smm::parse_order_id.
std::string describe_order_id_reason(const std::string& reason);

}  // namespace smm::daemon
