// smm-syncd: command-line entry point. Parses the command line, loads the
// configuration and hands over to one subcommand. Exceptions end here.

#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "common/order_id.hpp"
#include "config/config.hpp"

namespace {

constexpr int kExitUsage = 2;
constexpr const char* kDefaultConfig = "/etc/smm-syncd/smm-syncd.toml";

struct Options {
  std::string config_path = kDefaultConfig;
  std::vector<std::string> ids;
  bool requeue = false;
  std::int64_t limit = 100;
};

void add_config_option(CLI::App& app, Options& options) {
  app.add_option("-c,--config", options.config_path, "Configuration file (TOML)")
      ->default_str(kDefaultConfig);
}

// Every id on the command line must be valid before anything is sent.
bool check_ids(const std::vector<std::string>& ids) {
  bool ok = true;
  for (const auto& id : ids) {
    std::string reason;
    if (!smm::parse_order_id(id, &reason)) {
      std::cerr << "smm-syncd: invalid order id \"" << id << "\": " << reason
                << " (expected 1 to 20 decimal digits)\n";
      ok = false;
    }
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"smm-syncd keeps SMM panel orders in PostgreSQL in step with the CentralSMM "
               "provider, taking provider order ids from a Redis queue."};
  app.set_version_flag("-V,--version", std::string("smm-syncd ") + SMM_VERSION);
  app.require_subcommand(0, 1);

  Options options;
  add_config_option(app, options);

  auto* run = app.add_subcommand("run", "Run the daemon in the foreground (the default)");
  add_config_option(*run, options);
  auto* check = app.add_subcommand("check-config",
                                   "Validate the configuration and print it, secrets redacted");
  add_config_option(*check, options);
  auto* enqueue = app.add_subcommand("enqueue", "Schedule provider order ids for polling now");
  add_config_option(*enqueue, options);
  enqueue->add_option("ids", options.ids, "Provider order ids (1 to 20 digits)")->required();
  auto* stats = app.add_subcommand("stats", "Print queue counts: inbox, scheduled, due, leased, dead");
  add_config_option(*stats, options);
  auto* dead = app.add_subcommand("dead-letters", "List the dead letters, or requeue them");
  add_config_option(*dead, options);
  dead->add_flag("--requeue", options.requeue,
                 "Move dead order ids back to the schedule (all, or the ids given)");
  dead->add_option("ids", options.ids, "Order ids to requeue (with --requeue)");
  dead->add_option("--limit", options.limit, "Maximum entries to list")
      ->check(CLI::Range(1, 1'000'000));
  auto* migrate = app.add_subcommand("migrate", "Check the orders table the daemon writes to");
  add_config_option(*migrate, options);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : kExitUsage;
  }

  if (!options.ids.empty() && !check_ids(options.ids)) return kExitUsage;
  if (!options.requeue && dead->parsed() && !options.ids.empty()) {
    std::cerr << "smm-syncd: dead-letters: order ids are only accepted with --requeue\n";
    return kExitUsage;
  }

  smm::config::Config config;
  try {
    config = smm::config::load_file(options.config_path);
    // check-config answers "would `run` start with this?", so it needs the
    // secrets too; the queue subcommands do not.
    if (app.got_subcommand(run) || app.got_subcommand(check) || app.get_subcommands().empty()) {
      smm::config::require_secrets(config);
    }
  } catch (const smm::config::ConfigError& error) {
    std::cerr << "smm-syncd: invalid configuration: " << error.what() << "\n";
    return kExitUsage;
  }

  try {
    if (app.got_subcommand(check)) return smm::daemon::check_config(config);
    if (app.got_subcommand(enqueue)) return smm::daemon::enqueue(config, options.ids);
    if (app.got_subcommand(stats)) return smm::daemon::stats(config);
    if (app.got_subcommand(dead)) {
      return smm::daemon::dead_letters(config, options.requeue, options.ids, options.limit);
    }
    if (app.got_subcommand(migrate)) return smm::daemon::migrate(config);
    return smm::daemon::run_daemon(config);
  } catch (const std::exception& error) {
    std::cerr << "smm-syncd: " << error.what() << "\n";
    return 1;
  }
}
