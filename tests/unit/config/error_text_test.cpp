// ErrorText: the template and arguments of a configuration error, which
// the daemon fills with a translated template.

#include "config/error_text.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/config.hpp"

namespace smm::config {
namespace {

ConfigError load_error(const std::string& text) {
  try {
    load_string(text, "test.toml");
  } catch (const ConfigError& error) {
    return error;
  }
  throw std::logic_error("the config loaded without an error");
}

TEST(ErrorText, KeepsTemplateAndArgumentsOfConfigError) {
  const ConfigError error =
      load_error("[provider]\nbase_url = \"https://centralsmm.co.id\"\nmax_in_flight = 0\n");
  EXPECT_EQ(error.key(), "provider.max_in_flight");
  EXPECT_EQ(error.problem_text().format, "must be between %s and %s, got %s");
  EXPECT_EQ(error.problem_text().args, (std::vector<std::string>{"1", "10000", "0"}));
  EXPECT_EQ(error.problem_text().english(), error.problem());
  EXPECT_EQ(error.problem(), "must be between 1 and 10000, got 0");
}

TEST(ErrorText, FormatsNumbersAsFmtDoes) {
  const ConfigError error =
      load_error("[provider]\nbase_url = \"https://centralsmm.co.id\"\nthrottle_backoff = 1.5\n");
  EXPECT_EQ(error.problem(), "must be greater than 0 and less than 1, got 1.5");
}

TEST(ErrorText, TemplateWithoutArguments) {
  const ConfigError error = load_error("[provider]\nbase_url = \"https://centralsmm.co.id\"\nbogus = 1\n");
  EXPECT_EQ(error.problem_text().format, "unknown key");
  EXPECT_TRUE(error.problem_text().args.empty());
}

TEST(FillErrorText, FillsInOrderAndByPosition) {
  const std::vector<std::string> args{"integer", "1"};
  EXPECT_EQ(fill_error_text("got %s at index %s", args), "got integer at index 1");
  EXPECT_EQ(fill_error_text("index %2$s is %1$s", args), "index 1 is integer");
  EXPECT_EQ(fill_error_text("100%% of %s", {"x"}), "100% of x");
}

TEST(FillErrorText, ArgumentTextIsNotADirective) {
  EXPECT_EQ(fill_error_text("got \"%s\"", {"%s %d %n"}), "got \"%s %d %n\"");
}

TEST(FillErrorText, RejectsBadTemplates) {
  EXPECT_THROW(fill_error_text("%s and %s", {"one"}), std::invalid_argument);
  EXPECT_THROW(fill_error_text("%3$s", {"one", "two"}), std::invalid_argument);
  EXPECT_THROW(fill_error_text("%d", {"one"}), std::invalid_argument);
  EXPECT_THROW(fill_error_text("trailing %", {}), std::invalid_argument);
}

}  // namespace
}  // namespace smm::config
