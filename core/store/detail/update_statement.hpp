#pragma once
// The SQL the store runs, built from the configured table and column names.
// Nothing here does I/O: names arrive already quoted (the store quotes them
// with PQescapeIdentifier), column types arrive from the catalog query.

#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace smm::store::detail {

// How ids are compared with the id column. Numeric kinds limit which ids can
// exist at all (see canonical_id in batch.hpp).
enum class IdKind { text, smallint, integer, bigint, numeric };

// The configured table name split on its first dot: "schema.table" or "table".
struct TableName {
  std::string schema;  // empty when the name has no dot
  std::string table;
};
TableName split_table_name(const std::string& configured);

// One row of the catalog query: a column, its type without modifier, and
// the type's pg_type.typcategory letter.
struct ColumnInfo {
  std::string name;
  std::string type;
  std::string category;
};

// The catalog query; $1 is the quoted, possibly schema-qualified table name.
// It returns no rows when the table does not exist.
extern const char* const kColumnsQuery;

// Quoted identifiers and resolved types that the update statement needs.
struct TableShape {
  std::string table;               // quoted, possibly "schema"."table"
  std::string id_column;           // quoted
  std::string status_column;       // quoted
  std::string start_count_column;  // quoted
  std::string remains_column;      // quoted
  std::string synced_at_column;    // quoted; empty when disabled
  std::string id_type;             // as format_type prints it, e.g. bigint
  std::string status_type;
  IdKind id_kind = IdKind::text;
};

// Checks the catalog rows against the configured column names and fills
// the types and id kind of `shape`. Returns a message naming the table,
// column and problem, or nullopt when the table is usable.
std::optional<std::string> resolve_columns(const std::vector<ColumnInfo>& columns,
                                           const config::PostgresConfig& config,
                                           TableShape& shape);

// The batch statement. Parameters: $1 ids text[], $2 statuses text[],
// $3 start counts int8[], $4 remains int8[], $5 final statuses text[].
// Returns one row per id: its 1-based position in $1 and one of updated,
// unchanged, final_protected or no_row.
std::string build_update_sql(const TableShape& shape);

}  // namespace smm::store::detail
