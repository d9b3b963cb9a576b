#include "messages.hpp"

#include <charconv>
#include <optional>
#include <regex>
#include <stdexcept>
#include <string_view>

#include "i18n.hpp"

namespace smm::daemon {
namespace {

using i18n::format;
using i18n::tr;

// CLI11 exposes only the English text of an error, so the option name and
// the value are read back out of it. The patterns match the texts of
// CLI11 2.1.2 (Debian 12's libcli11-dev). A text that no pattern matches is
// shown as CLI11 wrote it.
std::optional<std::smatch> match(const std::string& text, const char* pattern) {
  std::smatch groups;
  if (!std::regex_match(text, groups, std::regex(pattern))) return std::nullopt;
  return groups;
}

// "The following argument was not expected: a" or "The following
// arguments were not expected: a b".
std::string describe_extras(const std::string& text) {
  if (auto m = match(text, "The following argument was not expected: (.*)")) {
    return format(tr("unexpected argument: %s"), (*m)[1].str().c_str());
  }
  if (auto m = match(text, "The following arguments were not expected: (.*)")) {
    return format(tr("unexpected arguments: %s"), (*m)[1].str().c_str());
  }
  return text;
}

// "NAME: 1 required TYPE missing", "NAME: At Most 1 required but received
// 2", "NAME: At least 2 required but received 1", and "Expected exactly 2
// arguments to NAME, got 1".
std::string describe_argument_mismatch(const std::string& text) {
  if (auto m = match(text, "(.+): [0-9]+ required .* missing")) {
    return format(tr("%s needs a value"), (*m)[1].str().c_str());
  }
  if (auto m = match(text, "(.+): At Most ([0-9]+) required but received ([0-9]+)")) {
    return format(tr("%s accepts at most %s value(s), got %s"), (*m)[1].str().c_str(),
                  (*m)[2].str().c_str(), (*m)[3].str().c_str());
  }
  if (auto m = match(text, "(.+): At least ([0-9]+) required but received ([0-9]+)")) {
    return format(tr("%s needs at least %s value(s), got %s"), (*m)[1].str().c_str(),
                  (*m)[2].str().c_str(), (*m)[3].str().c_str());
  }
  if (auto m = match(text, "Expected exactly ([0-9]+) arguments to (.+), got ([0-9]+)")) {
    return format(tr("%s takes exactly %s value(s), got %s"), (*m)[2].str().c_str(),
                  (*m)[1].str().c_str(), (*m)[3].str().c_str());
  }
  return text;
}

// "NAME is required".
std::string describe_required(const std::string& text) {
  if (auto m = match(text, "(.+) is required")) {
    // "ids" is the name of enqueue's positional argument, not a word a user
    // typed.
    if ((*m)[1].str() == "ids") return tr("give at least one provider order id");
    return format(tr("%s is required"), (*m)[1].str().c_str());
  }
  return text;
}

// "Could not convert: NAME = VALUE", as for --requeue=maybe.
std::string describe_conversion(const std::string& text) {
  if (auto m = match(text, "Could not convert: (.+) = (.*)")) {
    return format(tr("invalid value for %s: %s"), (*m)[1].str().c_str(), (*m)[2].str().c_str());
  }
  return text;
}

// Returns the text printed for a usage error: the error, the list of
// commands when no command was given, and where to find help.
std::string usage_failure_text(const CLI::App* failed, const CLI::Error& error) {
  std::string text = "smm-syncd: " + describe_usage_error(error) + "\n";

  // Extra words before any command are most often a mistyped command.
  const bool no_command = failed->get_parent() == nullptr && failed->get_subcommands().empty();
  if (no_command && dynamic_cast<const CLI::ExtrasError*>(&error) != nullptr) {
    std::string names;
    for (const CLI::App* command : failed->get_subcommands({})) {
      if (!names.empty()) names += ", ";
      names += command->get_name();
    }
    text += format(tr("Commands: %s."), names.c_str()) + "\n";
  }

  if (failed->get_help_ptr() != nullptr) {
    text += format(tr("Run with %s for more information."),
                   failed->get_help_ptr()->get_name().c_str());
    text += "\n";
  }
  return text;
}

}  // namespace

void localize_cli(CLI::App& app) {
  auto formatter = app.get_formatter();
  formatter->label("Usage", tr("Usage"));
  formatter->label("OPTIONS", tr("OPTIONS"));
  formatter->label("SUBCOMMAND", tr("SUBCOMMAND"));
  formatter->label("Positionals", tr("Positionals"));
  formatter->label("REQUIRED", tr("REQUIRED"));
  formatter->label("TEXT", tr("TEXT"));
  formatter->label("INT", tr("INT"));

  app.option_defaults()->group(tr("Options"));
  app.set_help_flag("-h,--help", tr("Print this help message and exit"));
  app.set_version_flag("-V,--version", std::string("smm-syncd ") + SMM_VERSION,
                       tr("Display program version information and exit"));
  app.failure_message(usage_failure_text);
}

std::string describe_usage_error(const CLI::Error& error) {
  const std::string text = error.what();
  if (dynamic_cast<const CLI::ExtrasError*>(&error) != nullptr) return describe_extras(text);
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&error) != nullptr) {
    return describe_argument_mismatch(text);
  }
  if (dynamic_cast<const CLI::RequiredError*>(&error) != nullptr) return describe_required(text);
  if (dynamic_cast<const CLI::ConversionError*>(&error) != nullptr) return describe_conversion(text);
  // A ValidationError reads "NAME: " and the message of the failed check,
  // which whole_number_in already translated.
  return text;
}

CLI::Validator whole_number_in(std::int64_t min, std::int64_t max) {
  auto check = [min, max](std::string& input) -> std::string {
    std::int64_t value = 0;
    const char* end = input.data() + input.size();
    auto [rest, error] = std::from_chars(input.data(), end, value);
    if (error == std::errc() && rest == end && value >= min && value <= max) return {};
    return format(tr("expected a whole number from %lld to %lld, got \"%s\""),
                  static_cast<long long>(min), static_cast<long long>(max), input.c_str());
  };
  return CLI::Validator(check, "");
}

std::string describe_config_error(const config::ConfigError& error) {
  const config::ErrorText& text = error.problem_text();
  std::string problem;
  try {
    problem = config::fill_error_text(tr(text.format.c_str()), text.args);
  } catch (const std::invalid_argument&) {
    // msgfmt --check rejects a translation whose directives differ from its
    // template's, so only a hand-edited catalog gets here. English is shown.
    problem = error.problem();
  }
  if (error.key().empty()) return error.file() + ": " + problem;
  return error.file() + ": " + error.key() + ": " + problem;
}

std::string describe_order_id_reason(const std::string& reason) {
  // The reasons are core/common's English constants, which also go into
  // dead letters unchanged. A reason not listed here stays English.
  // TRANSLATORS: why an order id given on the command line is invalid.
  if (reason == "empty payload") return tr("empty");
  if (reason == "id longer than 20 digits") return tr("longer than 20 digits");
  if (reason == "id is not a decimal number") {
    return tr("contains a character other than the digits 0-9");
  }
  return reason;
}

}  // namespace smm::daemon
