// Pure parts of the queue: the redis:// URL parser and the reconnect backoff.

#include <gtest/gtest.h>

#include "queue/detail/backoff.hpp"
#include "queue/detail/redis_url.hpp"

namespace {

using smm::queue::detail::parse_redis_url;
using smm::queue::detail::reconnect_delay;
using namespace std::chrono_literals;

TEST(RedisUrl, ParsesHostPortAndDatabase) {
  std::string error;
  auto endpoint = parse_redis_url("redis://127.0.0.1:6380/3", &error);
  ASSERT_TRUE(endpoint) << error;
  EXPECT_EQ(endpoint->host, "127.0.0.1");
  EXPECT_EQ(endpoint->port, 6380);
  EXPECT_EQ(endpoint->db, 3);
  EXPECT_TRUE(endpoint->password.empty());
  EXPECT_EQ(endpoint->display(), "127.0.0.1:6380/3");
}

TEST(RedisUrl, AppliesDefaultsForPortAndDatabase) {
  auto endpoint = parse_redis_url("redis://cache.internal", nullptr);
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->host, "cache.internal");
  EXPECT_EQ(endpoint->port, 6379);
  EXPECT_EQ(endpoint->db, 0);
}

TEST(RedisUrl, ParsesPasswordAndUser) {
  auto password_only = parse_redis_url("redis://:s%40cret@localhost:6379/0", nullptr);
  ASSERT_TRUE(password_only);
  EXPECT_EQ(password_only->password, "s@cret");
  EXPECT_TRUE(password_only->username.empty());
  EXPECT_EQ(password_only->display().find("cret"), std::string::npos);

  auto with_user = parse_redis_url("redis://alice:pw@localhost/1", nullptr);
  ASSERT_TRUE(with_user);
  EXPECT_EQ(with_user->username, "alice");
  EXPECT_EQ(with_user->password, "pw");
  EXPECT_EQ(with_user->db, 1);
}

TEST(RedisUrl, ParsesBracketedIpv6Host) {
  auto endpoint = parse_redis_url("redis://[::1]:7000", nullptr);
  ASSERT_TRUE(endpoint);
  EXPECT_EQ(endpoint->host, "::1");
  EXPECT_EQ(endpoint->port, 7000);
  EXPECT_EQ(endpoint->display(), "[::1]:7000/0");
}

TEST(RedisUrl, RejectsInvalidUrls) {
  for (const char* url : {"rediss://localhost", "http://localhost", "redis://", "redis://:6379",
                          "redis://host:0", "redis://host:70000", "redis://host:port",
                          "redis://host/x", "redis://host/-1", "redis://pw@host", "redis://:%zz@host",
                          "redis://host?db=1", "redis://[::1", "redis://host:"}) {
    std::string error;
    EXPECT_FALSE(parse_redis_url(url, &error)) << url;
    EXPECT_FALSE(error.empty()) << url;
  }
}

TEST(ReconnectBackoff, GrowsFromMinimumToMaximum) {
  EXPECT_EQ(reconnect_delay(0, 100ms, 5000ms, 0.0), 100ms);
  EXPECT_EQ(reconnect_delay(3, 100ms, 5000ms, 0.0), 400ms);   // half of 800 ms
  EXPECT_EQ(reconnect_delay(3, 100ms, 5000ms, 0.999), 799ms);
  EXPECT_EQ(reconnect_delay(30, 100ms, 5000ms, 0.0), 2500ms);
  EXPECT_EQ(reconnect_delay(30, 100ms, 5000ms, 1.0), 5000ms);
}

TEST(ReconnectBackoff, StaysWithinBoundsForOddSettings) {
  EXPECT_EQ(reconnect_delay(5, 0ms, 0ms, 0.5), 1ms);
  EXPECT_EQ(reconnect_delay(5, 300ms, 100ms, 0.5), 300ms);
  EXPECT_EQ(reconnect_delay(1000, 100ms, 5000ms, 0.5), 3750ms);
}

}  // namespace
