// The CLAIM script's reply parsed without Redis: a flat list of four
// elements per claim, then given_up, invalid and the earliest score.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "queue/detail/reply.hpp"
#include "queue/detail/results.hpp"

namespace {

using smm::queue::detail::parse_claim_reply;
using smm::queue::detail::Reply;

Reply claim_reply(std::vector<Reply> flat, Reply earliest = Reply::make_string("")) {
  return Reply::make_array({Reply::make_array(std::move(flat)), Reply::make_integer(1), Reply::make_integer(2),
                            std::move(earliest)});
}

std::vector<Reply> one_claim(const std::string& id) {
  return {Reply::make_string(id), Reply::make_integer(41), Reply::make_integer(3), Reply::make_integer(4)};
}

TEST(ClaimReply, ParsesFlatClaims) {
  std::vector<Reply> flat = one_claim("123");
  for (auto& element : one_claim("0")) flat.push_back(std::move(element));

  auto parsed = parse_claim_reply(claim_reply(std::move(flat), Reply::make_string("1700000000000")));

  ASSERT_TRUE(parsed.has_value());
  ASSERT_EQ(parsed->result.claims.size(), 2u);
  EXPECT_EQ(parsed->result.claims[0].id, "123");
  EXPECT_EQ(parsed->result.claims[0].token, 41);
  EXPECT_EQ(parsed->result.claims[0].attempts, 3);
  EXPECT_EQ(parsed->result.claims[0].failures, 4);
  EXPECT_EQ(parsed->result.claims[1].id, "0");
  EXPECT_EQ(parsed->result.given_up, 1);
  EXPECT_EQ(parsed->invalid, 2);
  ASSERT_TRUE(parsed->result.next_due_ms.has_value());
  EXPECT_EQ(*parsed->result.next_due_ms, 1700000000000);
}

TEST(ClaimReply, EmptyListHasNoClaims) {
  auto parsed = parse_claim_reply(claim_reply({}));

  ASSERT_TRUE(parsed.has_value());
  EXPECT_TRUE(parsed->result.claims.empty());
  EXPECT_FALSE(parsed->result.next_due_ms.has_value());
}

TEST(ClaimReply, RejectsPartialClaim) {
  std::vector<Reply> flat = one_claim("123");
  flat.pop_back();

  EXPECT_FALSE(parse_claim_reply(claim_reply(std::move(flat))).has_value());
}

TEST(ClaimReply, RejectsNonCanonicalIds) {
  for (const std::string id : {"", "0123", "12a", " 12", "123456789012345678901"}) {
    EXPECT_FALSE(parse_claim_reply(claim_reply(one_claim(id))).has_value()) << "id '" << id << "'";
  }
}

TEST(ClaimReply, RejectsNegativeCounters) {
  std::vector<Reply> flat = one_claim("123");
  flat[2] = Reply::make_integer(-1);

  EXPECT_FALSE(parse_claim_reply(claim_reply(std::move(flat))).has_value());
}

}  // namespace
