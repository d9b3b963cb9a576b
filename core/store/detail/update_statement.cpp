#include "store/detail/update_statement.hpp"

#include <fmt/format.h>

namespace smm::store::detail {
namespace {

const ColumnInfo* find_column(const std::vector<ColumnInfo>& columns, const std::string& name) {
  for (const auto& column : columns) {
    if (column.name == name) return &column;
  }
  return nullptr;
}

std::optional<IdKind> id_kind_for(const ColumnInfo& column) {
  if (column.type == "smallint") return IdKind::smallint;
  if (column.type == "integer") return IdKind::integer;
  if (column.type == "bigint") return IdKind::bigint;
  if (column.type == "numeric") return IdKind::numeric;
  // typcategory 'S' covers text, varchar, char and domains over them.
  if (column.category == "S") return IdKind::text;
  return std::nullopt;
}

bool is_numeric_category(const ColumnInfo& column) { return column.category == "N"; }

std::string missing_column(const config::PostgresConfig& config, const std::string& name) {
  return fmt::format("table {} has no column {}", config.table, name);
}

std::string wrong_type(const config::PostgresConfig& config, const ColumnInfo& column,
                       const char* expected) {
  return fmt::format("column {} of table {} has type {}; expected {}", column.name, config.table,
                     column.type, expected);
}

}  // namespace

const char* const kColumnsQuery =
    "SELECT a.attname, format_type(a.atttypid, NULL), t.typcategory::text "
    "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
    "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped";

TableName split_table_name(const std::string& configured) {
  auto dot = configured.find('.');
  if (dot == std::string::npos) return {"", configured};
  return {configured.substr(0, dot), configured.substr(dot + 1)};
}

std::optional<std::string> resolve_columns(const std::vector<ColumnInfo>& columns,
                                           const config::PostgresConfig& config,
                                           TableShape& shape) {
  if (columns.empty()) return fmt::format("table {} not found", config.table);

  const ColumnInfo* id = find_column(columns, config.id_column);
  if (id == nullptr) return missing_column(config, config.id_column);
  auto kind = id_kind_for(*id);
  if (!kind) return wrong_type(config, *id, "text, varchar, smallint, integer, bigint or numeric");

  const ColumnInfo* status = find_column(columns, config.status_column);
  if (status == nullptr) return missing_column(config, config.status_column);

  for (const auto* name : {&config.start_count_column, &config.remains_column}) {
    const ColumnInfo* count = find_column(columns, *name);
    if (count == nullptr) return missing_column(config, *name);
    if (!is_numeric_category(*count)) return wrong_type(config, *count, "a numeric type");
  }

  if (!config.synced_at_column.empty() && find_column(columns, config.synced_at_column) == nullptr) {
    return missing_column(config, config.synced_at_column);
  }

  shape.id_type = id->type;
  shape.status_type = status->type;
  shape.id_kind = *kind;
  return std::nullopt;
}

// Why the statement has this shape:
// - u numbers the ids so results map back even when the server prints an id
//   differently from how it was sent (leading zeros against a bigint column).
// - old reads the rows before the update (all parts of one statement share
//   one snapshot), so an id that changed nothing can be told apart as
//   no_row, final_protected or unchanged.
// - The UPDATE writes only rows whose values differ; a null count keeps its
//   column; a final status is never replaced by a non-final one, while one
//   final status may replace another (a provider correcting success to
//   partial is applied).
std::string build_update_sql(const TableShape& s) {
  const std::string id_match = fmt::format("o.{} = u.id::{}", s.id_column, s.id_type);
  const std::string synced =
      s.synced_at_column.empty() ? "" : fmt::format(", {} = now()", s.synced_at_column);

  return fmt::format(
      "WITH u AS ("
      "SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[]) "
      "WITH ORDINALITY AS u(id, status, start_count, remains, n)), "
      "old AS ("
      "SELECT u.n, (o.{status}::text = ANY($5::text[])) IS TRUE AS was_final "
      "FROM {table} o JOIN u ON {id_match}), "
      "upd AS ("
      "UPDATE {table} o SET {status} = u.status::{status_type}, "
      "{start} = COALESCE(u.start_count, o.{start}), "
      "{remains} = COALESCE(u.remains, o.{remains}){synced} "
      "FROM u WHERE {id_match} "
      "AND (o.{status}::text IS DISTINCT FROM u.status "
      "OR (u.start_count IS NOT NULL AND o.{start} IS DISTINCT FROM u.start_count) "
      "OR (u.remains IS NOT NULL AND o.{remains} IS DISTINCT FROM u.remains)) "
      "AND NOT ((o.{status}::text = ANY($5::text[])) IS TRUE AND u.status <> ALL($5::text[])) "
      "RETURNING u.n) "
      "SELECT u.n, CASE "
      "WHEN d.n IS NOT NULL THEN 'updated' "
      "WHEN f.n IS NULL THEN 'no_row' "
      "WHEN f.was_final AND u.status <> ALL($5::text[]) THEN 'final_protected' "
      "ELSE 'unchanged' END "
      "FROM u "
      "LEFT JOIN (SELECT DISTINCT n FROM upd) d ON d.n = u.n "
      "LEFT JOIN (SELECT n, bool_or(was_final) AS was_final FROM old GROUP BY n) f ON f.n = u.n "
      "ORDER BY u.n",
      fmt::arg("table", s.table), fmt::arg("status", s.status_column),
      fmt::arg("status_type", s.status_type), fmt::arg("start", s.start_count_column),
      fmt::arg("remains", s.remains_column), fmt::arg("synced", synced),
      fmt::arg("id_match", id_match));
}

}  // namespace smm::store::detail
