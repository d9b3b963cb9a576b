#include "config/error_text.hpp"

#include <stdexcept>

#include <fmt/args.h>
#include <fmt/printf.h>

namespace smm::config {

std::string ErrorText::english() const { return fill_error_text(format, args); }

std::string fill_error_text(std::string_view format, const std::vector<std::string>& args) {
  // fmt's printf understands positional arguments (%2$s) and reports a
  // bad directive or a missing argument with format_error instead of
  // reading past the arguments as vsnprintf would.
  fmt::dynamic_format_arg_store<fmt::printf_context> store;
  for (const auto& arg : args) store.push_back(arg);
  try {
    return fmt::vsprintf(fmt::string_view(format.data(), format.size()), store);
  } catch (const fmt::format_error& error) {
    throw std::invalid_argument(fmt::format("error template \"{}\" with {} argument(s): {}",
                                            format, args.size(), error.what()));
  }
}

}  // namespace smm::config
