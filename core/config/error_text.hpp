#pragma once
// The text of a configuration error in a form a front end can translate: an
// English printf-style template and its arguments. core/config has no
// gettext. The daemon looks the template up in its catalog and fills in the
// arguments, so check-config prints in the operator's language while what()
// and the logs stay English.

#include <string>
#include <string_view>
#include <vector>

namespace smm::config {

struct ErrorText {
  // The English template, also the gettext msgid. Its only directives are
  // %s (one per argument, in order) and %%. A translation may also use
  // %1$s, %2$s ... to reorder the arguments.
  std::string format;
  // The arguments, already formatted as text: keys, values, numbers.
  std::vector<std::string> args;

  // Returns the template filled with the arguments, in English.
  std::string english() const;
};

// Fills `format` (the English template or a translation of it) with `args`.
// Throws std::invalid_argument when `format` has a directive other than %s,
// %N$s or %%, or refers to an argument that does not exist.
std::string fill_error_text(std::string_view format, const std::vector<std::string>& args);

}  // namespace smm::config
