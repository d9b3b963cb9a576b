// Loading: TOML text -> Config, then the secrets from the environment and
// systemd credentials, then validation. Any problem throws ConfigError.

#include "config/config.hpp"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "config/detail/fields.hpp"
#include "config/detail/text.hpp"
#include "config/detail/validate.hpp"

namespace smm::config {
namespace {

std::string describe(const std::string& file, const std::string& key, const std::string& problem) {
  if (key.empty()) return fmt::format("{}: {}", file, problem);
  return fmt::format("{}: {}: {}", file, key, problem);
}

class ProcessEnvironment final : public Environment {
 public:
  const char* get(const char* name) const override { return std::getenv(name); }
};

// The built-in provider word map, used when the file has no [status_map].
std::map<std::string, std::string> default_status_map() {
  return {
      {"pending", "pending"},     {"processing", "processing"}, {"in progress", "processing"},
      {"success", "success"},     {"completed", "success"},     {"partial", "partial"},
      {"error", "error"},         {"canceled", "canceled"},     {"cancelled", "canceled"},
  };
}

toml::table parse_toml(const std::string& text, const std::string& source_name) {
  try {
    return toml::parse(text, source_name);
  } catch (const toml::parse_error& error) {
    const auto& begin = error.source().begin;
    // toml++'s description stays English in every language.
    throw ConfigError(source_name, "",
                      detail::error_text("TOML syntax error at line %s column %s: %s", begin.line,
                                         begin.column, error.description()));
  }
}

// [status_map] replaces the default map as a whole, so a panel can drop a
// word as well as add one.
void read_status_map(const toml::node& node, Config& config) {
  const auto& file = config.source_file;
  const auto* table = node.as_table();
  if (table == nullptr) {
    throw ConfigError(file, "status_map",
                      detail::error_text("expected a table, got %s", detail::type_name(node)));
  }
  if (table->empty()) {
    throw ConfigError(file, "status_map",
                      detail::error_text("is empty; map at least one provider word, or remove the "
                                         "section to use the default map"));
  }

  std::map<std::string, std::string> map;
  std::map<std::string, std::string> written_as;  // normalised word -> key as written
  for (const auto& [key, value] : *table) {
    const std::string name = "status_map." + detail::toml_key(key.str());
    const auto* local = value.as_string();
    if (local == nullptr) {
      throw ConfigError(file, name, detail::error_text("expected a string, got %s", detail::type_name(value)));
    }
    auto word = detail::normalize_status_word(key.str());
    if (word.empty()) throw ConfigError(file, name, detail::error_text("the provider word is empty"));
    if (detail::normalize_status_word(local->get()).empty()) {
      throw ConfigError(file, name, detail::error_text("the local status must not be empty"));
    }
    auto [previous, inserted] = written_as.emplace(word, std::string(key.str()));
    if (!inserted) {
      throw ConfigError(file, name,
                        detail::error_text("the same provider word as \"%s\" (both read as \"%s\")",
                                           previous->second, word));
    }
    map.emplace(std::move(word), local->get());
  }
  config.status_map = std::move(map);
}

void read_section(const detail::Section& section, const toml::node& node, Config& config) {
  const auto& file = config.source_file;
  const auto* table = node.as_table();
  if (table == nullptr) {
    throw ConfigError(file, std::string(section.name),
                      detail::error_text("expected a table, got %s", detail::type_name(node)));
  }
  for (const auto& [key, value] : *table) {
    const auto name = fmt::format("{}.{}", section.name, detail::toml_key(key.str()));
    const detail::Field* field = nullptr;
    for (const auto& candidate : section.fields) {
      if (candidate.key == key.str()) field = &candidate;
    }
    if (field == nullptr) throw ConfigError(file, name, detail::error_text("unknown key"));
    auto problem = field->read(config, value);
    if (problem) throw ConfigError(file, name, std::move(*problem));
  }
}

void read_tables(const toml::table& root, Config& config) {
  for (const auto& [key, node] : root) {
    if (key.str() == "status_map") {
      read_status_map(node, config);
      continue;
    }
    const detail::Section* section = nullptr;
    for (const auto& candidate : detail::sections()) {
      if (candidate.name == key.str()) section = &candidate;
    }
    if (section == nullptr) {
      const auto name = detail::toml_key(key.str());
      if (node.is_table()) {
        throw ConfigError(config.source_file, name, detail::error_text("unknown section"));
      }
      throw ConfigError(config.source_file, name,
                        detail::error_text("unknown key; every key belongs in a section such as [provider]"));
    }
    read_section(*section, node, config);
  }
}

// The environment variable and systemd credential that may set one provider secret.
struct SecretSource {
  Secret ProviderConfig::*member;
  const char* key;
  const char* variable;
  const char* credential;
};

constexpr SecretSource kSecretSources[] = {
    {&ProviderConfig::api_id, "provider.api_id", "CENTRALSMM_API_ID", "centralsmm-api-id"},
    {&ProviderConfig::api_key, "provider.api_key", "CENTRALSMM_API_KEY", "centralsmm-api-key"},
    {&ProviderConfig::secret_key, "provider.secret_key", "CENTRALSMM_SECRET_KEY",
     "centralsmm-secret-key"},
};

// Reads one systemd credential file; nullopt when it does not exist. Only
// trailing line breaks are removed, because `echo secret >file` adds one.
std::optional<std::string> read_credential(const std::filesystem::path& path,
                                           const SecretSource& source, const Config& config) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (status.type() == std::filesystem::file_type::not_found) return std::nullopt;
  if (std::filesystem::is_directory(status)) {
    throw ConfigError(config.source_file, source.key,
                      detail::error_text("cannot read the systemd credential %s: is a directory",
                                         path.string()));
  }

  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in || in.bad()) {
    throw ConfigError(config.source_file, source.key,
                      detail::error_text("cannot read the systemd credential %s", path.string()));
  }
  auto value = text.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.empty()) {
    throw ConfigError(config.source_file, source.key,
                      detail::error_text("the systemd credential %s is empty", path.string()));
  }
  return value;
}

// The file comes first, then the environment, then systemd credentials. An
// empty variable counts as unset, so `CENTRALSMM_API_KEY=` does not hide
// the file's value.
void apply_secret_sources(Config& config, const Environment& env) {
  const char* credentials = env.get("CREDENTIALS_DIRECTORY");
  for (const auto& source : kSecretSources) {
    Secret& secret = config.provider.*source.member;
    const char* variable = env.get(source.variable);
    if (variable != nullptr && *variable != '\0') secret = Secret(variable);

    if (credentials == nullptr || *credentials == '\0') continue;
    auto value = read_credential(std::filesystem::path(credentials) / source.credential, source, config);
    if (value) secret = Secret(std::move(*value));
  }
}

std::string read_whole_file(const std::string& path) {
  std::error_code error;
  auto status = std::filesystem::status(path, error);
  if (status.type() == std::filesystem::file_type::not_found) {
    throw ConfigError(path, "", detail::error_text("file not found"));
  }
  // The system error texts stay English, because the daemon keeps the "C" locale.
  if (error) {
    throw ConfigError(path, "", detail::error_text("cannot read the file: %s", error.message()));
  }
  if (std::filesystem::is_directory(status)) {
    throw ConfigError(path, "", detail::error_text("is a directory, expected a TOML file"));
  }

  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(path, "", detail::error_text("cannot open the file: %s",
                                                   std::generic_category().message(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path, "", detail::error_text("cannot read the file"));
  return text.str();
}

}  // namespace

ConfigError::ConfigError(std::string file, std::string key, ErrorText problem)
    : std::runtime_error(describe(file, key, problem.english())),
      file_(std::move(file)),
      key_(std::move(key)),
      problem_(problem.english()),
      problem_text_(std::move(problem)) {}

const Environment& process_environment() {
  static const ProcessEnvironment environment;
  return environment;
}

Config load_string(const std::string& text, const std::string& source_name, const Environment& env) {
  Config config;
  config.source_file = source_name;
  config.status_map = default_status_map();

  read_tables(parse_toml(text, source_name), config);
  apply_secret_sources(config, env);
  detail::validate(config);
  return config;
}

Config load_file(const std::string& path, const Environment& env) {
  return load_string(read_whole_file(path), path, env);
}

void require_secrets(const Config& config) {
  for (const auto& source : kSecretSources) {
    if (!(config.provider.*source.member).empty()) continue;
    throw ConfigError(config.source_file, source.key,
                      detail::error_text("missing: set it in the file, the environment variable %s or the systemd credential %s",
                                         source.variable, source.credential));
  }
}

}  // namespace smm::config
