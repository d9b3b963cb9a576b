#include <gtest/gtest.h>

#include "common/order_id.hpp"

using smm::parse_order_id;

TEST(OrderId, AcceptsDigitsWithSurroundingSpace) {
  EXPECT_EQ(parse_order_id("123"), "123");
  EXPECT_EQ(parse_order_id(" \t123\r\n"), "123");
  EXPECT_EQ(parse_order_id("12345678901234567890"), "12345678901234567890");
}

TEST(OrderId, DropsLeadingZeros) {
  EXPECT_EQ(parse_order_id("000123"), "123");
  EXPECT_EQ(parse_order_id("0"), "0");
  EXPECT_EQ(parse_order_id("0000"), "0");
}

TEST(OrderId, RejectsWithReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "empty payload"},
      {"   ", "empty payload"},
      {"-5", "id is not a decimal number"},
      {"12a", "id is not a decimal number"},
      {"1 2", "id is not a decimal number"},
      {"123456789012345678901", "id longer than 20 digits"},
      {"{\"id\":1}", "id is not a decimal number"},
      {"\xD9\xA3", "id is not a decimal number"},
  };
  for (const auto& [raw, expected] : cases) {
    std::string reason;
    EXPECT_FALSE(parse_order_id(raw, &reason).has_value()) << raw;
    EXPECT_EQ(reason, expected) << raw;
  }
}
