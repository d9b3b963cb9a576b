#pragma once
// A secret string whose formatted forms print a redaction mark, so a secret
// can be passed around and logged by mistake without leaking.

#include <ostream>
#include <string>

#include <fmt/format.h>

namespace smm::config {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}

  // The only way to read the value: call sites that send it are easy to find.
  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

  static constexpr const char* kRedacted = "[redacted]";

 private:
  std::string value_;
};

inline std::ostream& operator<<(std::ostream& out, const Secret&) {
  return out << Secret::kRedacted;
}

}  // namespace smm::config

template <>
struct fmt::formatter<smm::config::Secret> : fmt::formatter<const char*> {
  template <typename Context>
  auto format(const smm::config::Secret&, Context& ctx) const {
    return fmt::formatter<const char*>::format(smm::config::Secret::kRedacted, ctx);
  }
};
