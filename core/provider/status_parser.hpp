#pragma once
// Parser for one CentralSMM /api/status response body. Pure: no I/O and no
// shared state. Strict about what it trusts (an explicit success flag and a
// status word) and forgiving about spelling (numbers as strings, null or
// missing fields, any case or spacing, extra fields).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace smm::provider {

// A success response. `status_word` is normalised: trimmed, lower case,
// underscores and runs of spaces folded to one space ("IN_PROGRESS" -> "in
// progress"). A number not reported (null, "", missing, "Unknown") is nullopt,
// never 0.
struct StatusReport {
  std::string status_word;
  std::optional<std::int64_t> start_count;
  std::optional<std::int64_t> remains;
};

// A well-formed refusal (`response:false` or a top-level error), with the
// provider's raw message text for logs and the dead list.
struct Rejection {
  std::string message;
};

// Anything else: HTML, empty, truncated, not an object, no success flag, no
// status word. `reason` names the problem; `snippet` is the body's first
// bytes (at most kSnippetBytes), for the log.
struct MalformedAnswer {
  std::string reason;
  std::string snippet;
};

inline constexpr std::size_t kSnippetBytes = 200;

using ParseResult = std::variant<StatusReport, Rejection, MalformedAnswer>;

ParseResult parse_status_answer(std::string_view body);

// Normalises a status word as described for StatusReport.
std::string normalize_status_word(std::string_view word);

}  // namespace smm::provider
