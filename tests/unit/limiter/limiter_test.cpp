#include <gtest/gtest.h>

#include "limiter/backoff.hpp"
#include "limiter/token_bucket.hpp"

using namespace std::chrono_literals;
using smm::limiter::Duration;
using smm::limiter::TokenBucket;

namespace {

TokenBucket::Clock::time_point at(std::chrono::milliseconds offset) {
  return TokenBucket::Clock::time_point{} + 1h + offset;
}

}  // namespace

TEST(TokenBucket, GrantsBurstAtOnce) {
  TokenBucket bucket(5.0, 3, at(0ms));
  EXPECT_EQ(bucket.try_acquire(at(0ms)), TokenBucket::Clock::duration::zero());
  EXPECT_EQ(bucket.try_acquire(at(0ms)), TokenBucket::Clock::duration::zero());
  EXPECT_EQ(bucket.try_acquire(at(0ms)), TokenBucket::Clock::duration::zero());
  EXPECT_GT(bucket.try_acquire(at(0ms)), TokenBucket::Clock::duration::zero());
}

TEST(TokenBucket, WaitMatchesRateWhenEmpty) {
  TokenBucket bucket(4.0, 1, at(0ms));
  ASSERT_EQ(bucket.try_acquire(at(0ms)), TokenBucket::Clock::duration::zero());
  auto wait = bucket.try_acquire(at(0ms));
  EXPECT_GE(wait, 250ms);
  EXPECT_LT(wait, 251ms);
}

TEST(TokenBucket, RefillsOverTimeUpToBurst) {
  TokenBucket bucket(10.0, 2, at(0ms));
  bucket.try_acquire(at(0ms));
  bucket.try_acquire(at(0ms));
  // Ten seconds later only `burst` tokens are available, not 100.
  EXPECT_EQ(bucket.try_acquire(at(10s)), TokenBucket::Clock::duration::zero());
  EXPECT_EQ(bucket.try_acquire(at(10s)), TokenBucket::Clock::duration::zero());
  EXPECT_GT(bucket.try_acquire(at(10s)), TokenBucket::Clock::duration::zero());
}

TEST(TokenBucket, HoldsLongRunRate) {
  TokenBucket bucket(50.0, 5, at(0ms));
  int granted = 0;
  for (int ms = 0; ms < 10'000; ++ms) {
    while (bucket.try_acquire(at(std::chrono::milliseconds(ms))) == TokenBucket::Clock::duration::zero()) {
      ++granted;
    }
  }
  // 10 s at 50/s plus the initial burst of 5.
  EXPECT_LE(granted, 505);
  EXPECT_GE(granted, 499);
}

TEST(TokenBucket, PauseRefusesUntilItEnds) {
  TokenBucket bucket(5.0, 5, at(0ms));
  bucket.pause_until(at(30s));
  EXPECT_EQ(bucket.try_acquire(at(10s)), std::chrono::duration_cast<TokenBucket::Clock::duration>(20s));
  EXPECT_EQ(bucket.try_acquire(at(30s)), TokenBucket::Clock::duration::zero());
}

TEST(TokenBucket, ShorterPauseDoesNotShortenLonger) {
  TokenBucket bucket(5.0, 5, at(0ms));
  bucket.pause_until(at(30s));
  bucket.pause_until(at(5s));
  EXPECT_EQ(bucket.paused_until(), at(30s));
}

TEST(Backoff, FullJitterStaysWithinExponentialCeiling) {
  EXPECT_EQ(smm::limiter::full_jitter_backoff(2s, 5min, 0, 0.999), Duration(1998));
  EXPECT_EQ(smm::limiter::full_jitter_backoff(2s, 5min, 3, 0.5), Duration(8000));
  EXPECT_EQ(smm::limiter::full_jitter_backoff(2s, 5min, 3, 0.0), Duration(0));
}

TEST(Backoff, FullJitterIsCapped) {
  EXPECT_EQ(smm::limiter::full_jitter_backoff(2s, 5min, 30, 0.5), Duration(150'000));
  EXPECT_EQ(smm::limiter::full_jitter_backoff(2s, 5min, 1000, 1.0), Duration(300'000));
}

TEST(Backoff, NegativeAttemptActsAsFirst) {
  EXPECT_EQ(smm::limiter::full_jitter_backoff(2s, 5min, -4, 0.5), Duration(1000));
}

TEST(Backoff, JitteredIntervalSpreadsBothWays) {
  EXPECT_EQ(smm::limiter::jittered_interval(60s, 0.1, 0.0), Duration(54'000));
  EXPECT_EQ(smm::limiter::jittered_interval(60s, 0.1, 0.5), Duration(60'000));
  EXPECT_EQ(smm::limiter::jittered_interval(60s, 0.1, 1.0), Duration(66'000));
  EXPECT_EQ(smm::limiter::jittered_interval(60s, 0.0, 0.9), Duration(60'000));
}
