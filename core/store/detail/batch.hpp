#pragma once
// Turning queued updates into the parameters of one batch statement, and the
// statement's rows back into one outcome per update. No I/O here.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/detail/update_statement.hpp"
#include "store/store.hpp"

namespace smm::store::detail {

// The form of `id` the id column can hold, used both to send and to find
// duplicates: digits without leading zeros for numeric kinds, the id as it
// is for text. Returns nullopt when no row can have this id (not a decimal
// number, out of the column type's range, or a NUL byte in a text id), so
// the update is classified no_row without being sent.
// NOTE: a text id or status that is not valid in the database encoding
// (e.g. invalid UTF-8) still fails its whole batch with pg_statement_failed.
// Ids from the queue are digits only, so this needs a non-queue caller.
std::optional<std::string> canonical_id(std::string_view id, IdKind kind);

// Array literals in PostgreSQL's text format: {"a","b",NULL} and {1,NULL}.
std::string text_array_literal(const std::vector<std::optional<std::string>>& values);
std::string int8_array_literal(const std::vector<std::optional<std::int64_t>>& values);

struct BatchParams {
  std::vector<std::string> params;  // $1..$5 as text-format array literals
  std::size_t rows = 0;             // distinct ids sent
  // For each update, in input order: the 1-based position of its id in $1,
  // or 0 when it was classified no_row without being sent.
  std::vector<std::size_t> position;
};

// Builds the parameters for `updates`. Updates to the same id collapse into
// one row, and the last of them wins.
BatchParams build_batch(const std::vector<const StatusUpdate*>& updates, IdKind kind,
                        const std::vector<std::string>& final_statuses);

// Parses the outcome word of a result row.
std::optional<WriteOutcome> parse_outcome(std::string_view word);

}  // namespace smm::store::detail
