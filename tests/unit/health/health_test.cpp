// The health endpoint's routing and the event-loop lag decision, with no
// sockets and made-up times.

#include <chrono>
#include <string>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "health/loop_monitor.hpp"
#include "health/server.hpp"

namespace smm::health {
namespace {

using namespace std::chrono_literals;

Sources healthy_sources() {
  Sources sources;
  sources.loop = [] { return LoopState{true, 0.002}; };
  sources.checks = [] {
    return std::vector<Check>{{"redis", true, "up"}, {"postgres", true, "up"}, {"provider", true, "closed"}};
  };
  sources.metrics = [] { return std::string("m 1\n"); };
  return sources;
}

TEST(HealthRoutes, LivenessIsOkWhileLoopHealthy) {
  for (const char* path : {"/healthz", "/livez", "/healthz?verbose"}) {
    const Response response = handle_request("GET", path, healthy_sources());
    EXPECT_EQ(response.status, 200) << path;
    EXPECT_EQ(response.content_type, "application/json") << path;
    rapidjson::Document body;
    body.Parse(response.body.c_str());
    ASSERT_FALSE(body.HasParseError()) << response.body;
    EXPECT_STREQ(body["status"].GetString(), "ok");
    EXPECT_DOUBLE_EQ(body["loop_lag_seconds"].GetDouble(), 0.002);
  }
}

TEST(HealthRoutes, LivenessIs503WhenLoopStalled) {
  Sources sources = healthy_sources();
  sources.loop = [] { return LoopState{false, 7.5}; };
  const Response response = handle_request("GET", "/healthz", sources);
  EXPECT_EQ(response.status, 503);
  EXPECT_NE(response.body.find("\"stalled\""), std::string::npos) << response.body;
}

TEST(HealthRoutes, ReadinessNamesEveryCheck) {
  const Response response = handle_request("GET", "/readyz", healthy_sources());
  EXPECT_EQ(response.status, 200);
  rapidjson::Document body;
  body.Parse(response.body.c_str());
  ASSERT_FALSE(body.HasParseError()) << response.body;
  EXPECT_STREQ(body["status"].GetString(), "ready");
  EXPECT_STREQ(body["checks"]["redis"].GetString(), "up");
  EXPECT_STREQ(body["checks"]["postgres"].GetString(), "up");
  EXPECT_STREQ(body["checks"]["provider"].GetString(), "closed");
}

TEST(HealthRoutes, ReadinessIs503WhenAnyCheckFails) {
  Sources sources = healthy_sources();
  sources.checks = [] {
    return std::vector<Check>{{"redis", true, "up"}, {"postgres", false, "down"}, {"provider", true, "closed"}};
  };
  const Response response = handle_request("GET", "/readyz", sources);
  EXPECT_EQ(response.status, 503);
  rapidjson::Document body;
  body.Parse(response.body.c_str());
  ASSERT_FALSE(body.HasParseError()) << response.body;
  EXPECT_STREQ(body["status"].GetString(), "not ready");
  EXPECT_STREQ(body["checks"]["postgres"].GetString(), "down");
}

TEST(HealthRoutes, MetricsUsesPrometheusContentType) {
  const Response response = handle_request("GET", "/metrics", healthy_sources());
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(response.body, "m 1\n");
}

TEST(HealthRoutes, UnknownPathIs404) {
  for (const char* path : {"/", "/health", "/metrics/", "/readyz/x", "*"}) {
    EXPECT_EQ(handle_request("GET", path, healthy_sources()).status, 404) << path;
  }
  EXPECT_EQ(handle_request("POST", "/nothing", healthy_sources()).status, 404);
}

TEST(HealthRoutes, OtherMethodsAre405WithAllow) {
  for (const char* method : {"POST", "PUT", "DELETE", "HEAD", "OPTIONS", "get"}) {
    const Response response = handle_request(method, "/metrics", healthy_sources());
    EXPECT_EQ(response.status, 405) << method;
    EXPECT_TRUE(response.allow_get_only) << method;
  }
}

TEST(LagTracker, HealthyWhenChecksRunOnTime) {
  const Clock::time_point start{};
  LagTracker tracker(1s, 5s, start);
  tracker.record_check(start + 1s, start + 1s + 3ms);
  EXPECT_TRUE(tracker.healthy(start + 1s + 3ms));
  EXPECT_EQ(tracker.last_lag(), 3ms);
}

TEST(LagTracker, StalledWhenCheckRunsLateByThreshold) {
  const Clock::time_point start{};
  LagTracker tracker(1s, 5s, start);
  tracker.record_check(start + 1s, start + 6s);
  EXPECT_FALSE(tracker.healthy(start + 6s));
  EXPECT_EQ(tracker.max_lag(), 5s);

  // The next check on time ends the stall.
  tracker.record_check(start + 7s, start + 7s);
  EXPECT_TRUE(tracker.healthy(start + 7s));
  EXPECT_EQ(tracker.max_lag(), 5s);
}

TEST(LagTracker, StalledWhenNextCheckIsOverdue) {
  const Clock::time_point start{};
  LagTracker tracker(1s, 5s, start);
  tracker.record_check(start + 1s, start + 1s);
  EXPECT_TRUE(tracker.healthy(start + 6s + 999ms));
  EXPECT_FALSE(tracker.healthy(start + 7s));
}

TEST(LagTracker, EarlyCheckCountsAsNoLag) {
  const Clock::time_point start{};
  LagTracker tracker(1s, 5s, start);
  tracker.record_check(start + 1s, start + 999ms);
  EXPECT_EQ(tracker.last_lag(), 0s);
}

}  // namespace
}  // namespace smm::health
