// smm-syncd: command-line entry point. Parses the command line, loads the
// configuration and hands over to one subcommand. Exceptions end here.

#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "common/order_id.hpp"
#include "config/config.hpp"
#include "i18n.hpp"
#include "messages.hpp"

namespace {

using smm::i18n::format;
using smm::i18n::tr;

constexpr int kExitUsage = 2;
constexpr const char* kDefaultConfig = "/etc/smm-syncd/smm-syncd.toml";

struct Options {
  std::string config_path = kDefaultConfig;
  std::vector<std::string> ids;
  bool requeue = false;
  std::int64_t limit = 100;
};

void add_config_option(CLI::App& app, Options& options) {
  app.add_option("-c,--config", options.config_path, tr("Configuration file (TOML)"))
      ->default_str(kDefaultConfig)
      ->type_name(tr("FILE"));
}

// Every id on the command line must be valid before anything is sent.
bool check_ids(const std::vector<std::string>& ids) {
  bool ok = true;
  for (const auto& id : ids) {
    std::string reason;
    if (!smm::parse_order_id(id, &reason)) {
      const std::string described = smm::daemon::describe_order_id_reason(reason);
      std::cerr << "smm-syncd: "
                << format(tr("invalid order id \"%s\": %s (expected 1 to 20 decimal digits)"),
                          id.c_str(), described.c_str())
                << "\n";
      ok = false;
    }
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  smm::i18n::init();
  CLI::App app{tr("smm-syncd keeps SMM panel orders in PostgreSQL in step with the CentralSMM "
                  "provider, taking provider order ids from a Redis queue.")};
  smm::daemon::localize_cli(app);
  app.require_subcommand(0, 1);

  Options options;
  add_config_option(app, options);

  auto* run = app.add_subcommand("run", tr("Run the daemon in the foreground (the default)"));
  add_config_option(*run, options);
  auto* check = app.add_subcommand("check-config",
                                   tr("Validate the configuration and print it, secrets redacted"));
  add_config_option(*check, options);
  auto* enqueue = app.add_subcommand("enqueue", tr("Schedule provider order ids for polling now"));
  add_config_option(*enqueue, options);
  enqueue->add_option("ids", options.ids, tr("Provider order ids (1 to 20 digits)"))->required();
  auto* stats = app.add_subcommand("stats", tr("Print queue counts: inbox, scheduled, due, leased, dead"));
  add_config_option(*stats, options);
  auto* dead = app.add_subcommand("dead-letters", tr("List the dead letters, or requeue them"));
  add_config_option(*dead, options);
  dead->add_flag("--requeue", options.requeue,
                 tr("Move dead order ids back to the schedule (all, or the ids given)"));
  dead->add_option("ids", options.ids, tr("Order ids to requeue (with --requeue)"));
  constexpr std::int64_t kMaxLimit = 1'000'000;
  dead->add_option("--limit", options.limit,
                   format(tr("Maximum entries to list, from 1 to %lld (default %lld)"),
                          static_cast<long long>(kMaxLimit), static_cast<long long>(options.limit)))
      ->check(smm::daemon::whole_number_in(1, kMaxLimit));
  auto* migrate = app.add_subcommand("migrate", tr("Check the orders table the daemon writes to"));
  add_config_option(*migrate, options);
  // A subcommand's help flag is made before it copies the option defaults,
  // so its group is set here.
  for (CLI::App* subcommand : app.get_subcommands({})) {
    subcommand->group(tr("Subcommands"));
    subcommand->get_help_ptr()->group(tr("Options"));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : kExitUsage;
  }

  if (!options.ids.empty() && !check_ids(options.ids)) return kExitUsage;
  if (!options.requeue && dead->parsed() && !options.ids.empty()) {
    std::cerr << "smm-syncd: dead-letters: " << tr("order ids are only accepted with --requeue")
              << "\n";
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
    const std::string described = smm::daemon::describe_config_error(error);
    std::cerr << "smm-syncd: " << format(tr("invalid configuration: %s"), described.c_str()) << "\n";
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
