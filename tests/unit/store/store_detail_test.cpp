// The store's pure parts: id forms, array literals, batch building, the
// column check and reconnect delays. No server needed.

#include <gtest/gtest.h>

#include "store/detail/backoff.hpp"
#include "store/detail/batch.hpp"
#include "store/detail/update_statement.hpp"

using namespace std::chrono_literals;
using smm::store::StatusUpdate;
using smm::store::WriteOutcome;
using namespace smm::store::detail;

namespace {

TEST(StoreCanonicalId, StripsLeadingZerosForNumericColumns) {
  EXPECT_EQ(canonical_id("000123", IdKind::bigint), "123");
  EXPECT_EQ(canonical_id("0000", IdKind::bigint), "0");
  EXPECT_EQ(canonical_id("000123", IdKind::text), "000123");
}

TEST(StoreCanonicalId, RejectsIdsOutsideColumnRange) {
  EXPECT_EQ(canonical_id("9223372036854775807", IdKind::bigint), "9223372036854775807");
  EXPECT_EQ(canonical_id("9223372036854775808", IdKind::bigint), std::nullopt);
  EXPECT_EQ(canonical_id("12345678901234567890", IdKind::bigint), std::nullopt);
  EXPECT_EQ(canonical_id("00000000002147483647", IdKind::integer), "2147483647");
  EXPECT_EQ(canonical_id("2147483648", IdKind::integer), std::nullopt);
  EXPECT_EQ(canonical_id("32768", IdKind::smallint), std::nullopt);
  EXPECT_EQ(canonical_id("12345678901234567890", IdKind::numeric), "12345678901234567890");
}

TEST(StoreCanonicalId, RejectsNonDigitsForNumericColumns) {
  EXPECT_EQ(canonical_id("", IdKind::bigint), std::nullopt);
  EXPECT_EQ(canonical_id("-5", IdKind::integer), std::nullopt);
  EXPECT_EQ(canonical_id("1 OR 1=1", IdKind::numeric), std::nullopt);
  EXPECT_EQ(canonical_id(std::string("1\0", 2), IdKind::text), std::nullopt);
}

TEST(StoreArrayLiteral, QuotesAndEscapesText) {
  EXPECT_EQ(text_array_literal({"a", std::nullopt, "x\"y\\z", "NULL", "{,}"}),
            R"({"a",NULL,"x\"y\\z","NULL","{,}"})");
  EXPECT_EQ(text_array_literal({}), "{}");
  EXPECT_EQ(int8_array_literal({1, std::nullopt, 0, -3}), "{1,NULL,0,-3}");
}

TEST(StoreBuildBatch, CollapsesDuplicateIdsWithLastWinning) {
  StatusUpdate first{"0042", "pending", 1, 9};
  StatusUpdate other{"7", "success", std::nullopt, 0};
  StatusUpdate last{"42", "processing", 2, std::nullopt};
  StatusUpdate too_big{"99999999999999999999", "processing", 1, 1};

  auto batch = build_batch({&first, &other, &last, &too_big}, IdKind::bigint, {"success"});

  EXPECT_EQ(batch.rows, 2U);
  EXPECT_EQ(batch.position, (std::vector<std::size_t>{1, 2, 1, 0}));
  ASSERT_EQ(batch.params.size(), 5U);
  EXPECT_EQ(batch.params[0], R"({"42","7"})");
  EXPECT_EQ(batch.params[1], R"({"processing","success"})");
  EXPECT_EQ(batch.params[2], "{2,NULL}");
  EXPECT_EQ(batch.params[3], "{NULL,0}");
  EXPECT_EQ(batch.params[4], R"({"success"})");
}

TEST(StoreParseOutcome, ReadsEveryWordAndRejectsOthers) {
  EXPECT_EQ(parse_outcome("updated"), WriteOutcome::updated);
  EXPECT_EQ(parse_outcome("unchanged"), WriteOutcome::unchanged);
  EXPECT_EQ(parse_outcome("final_protected"), WriteOutcome::final_protected);
  EXPECT_EQ(parse_outcome("no_row"), WriteOutcome::no_row);
  EXPECT_EQ(parse_outcome("UPDATED"), std::nullopt);
}

TEST(StoreTableName, SplitsOnFirstDot) {
  auto plain = split_table_name("orders");
  EXPECT_EQ(plain.schema, "");
  EXPECT_EQ(plain.table, "orders");
  auto qualified = split_table_name("panel.Order Rows");
  EXPECT_EQ(qualified.schema, "panel");
  EXPECT_EQ(qualified.table, "Order Rows");
}

std::vector<ColumnInfo> default_columns() {
  return {{"provider_order_id", "bigint", "N"},
          {"status", "text", "S"},
          {"start_count", "integer", "N"},
          {"remains", "numeric", "N"},
          {"provider_synced_at", "timestamp with time zone", "D"}};
}

TEST(StoreResolveColumns, AcceptsDefaultShape) {
  smm::config::PostgresConfig config;
  TableShape shape;

  EXPECT_EQ(resolve_columns(default_columns(), config, shape), std::nullopt);
  EXPECT_EQ(shape.id_kind, IdKind::bigint);
  EXPECT_EQ(shape.id_type, "bigint");
  EXPECT_EQ(shape.status_type, "text");
}

TEST(StoreResolveColumns, NamesMissingTableAndColumns) {
  smm::config::PostgresConfig config;
  TableShape shape;
  EXPECT_EQ(resolve_columns({}, config, shape), "table orders not found");

  auto columns = default_columns();
  columns.erase(columns.begin() + 3);
  EXPECT_EQ(resolve_columns(columns, config, shape), "table orders has no column remains");

  config.synced_at_column = "";
  columns = default_columns();
  columns.pop_back();
  EXPECT_EQ(resolve_columns(columns, config, shape), std::nullopt);
}

TEST(StoreResolveColumns, RejectsUnusableTypes) {
  smm::config::PostgresConfig config;
  TableShape shape;
  auto columns = default_columns();
  columns[0] = {"provider_order_id", "double precision", "N"};
  EXPECT_NE(resolve_columns(columns, config, shape), std::nullopt);

  columns = default_columns();
  columns[2] = {"start_count", "text", "S"};
  EXPECT_NE(resolve_columns(columns, config, shape), std::nullopt);
}

TEST(StoreUpdateSql, OmitsSyncedAtWhenDisabled) {
  TableShape shape{"\"t\"", "\"id\"", "\"s\"", "\"c\"", "\"r\"", "", "bigint", "text",
                   IdKind::bigint};
  auto without = build_update_sql(shape);
  shape.synced_at_column = "\"at\"";
  auto with = build_update_sql(shape);

  EXPECT_EQ(without.find("now()"), std::string::npos);
  EXPECT_NE(with.find("\"at\" = now()"), std::string::npos);
  EXPECT_NE(with.find("o.\"id\" = u.id::bigint"), std::string::npos);
}

TEST(StoreReconnectDelay, GrowsWithinBounds) {
  EXPECT_EQ(reconnect_delay(0, 100ms, 5s, 0.0), 100ms);
  EXPECT_EQ(reconnect_delay(0, 100ms, 5s, 0.5), 150ms);
  EXPECT_EQ(reconnect_delay(3, 100ms, 5s, 0.5), 850ms);
  EXPECT_EQ(reconnect_delay(30, 100ms, 5s, 0.5), 2550ms);
  EXPECT_LT(reconnect_delay(30, 100ms, 5s, 0.999999), 5s + 1ms);
  EXPECT_EQ(reconnect_delay(5, 5s, 1s, 0.7), 5s);
}

}  // namespace
