#include <gtest/gtest.h>

#include "common/error.hpp"
#include "sync/decision.hpp"

using namespace std::chrono_literals;
using smm::provider::FetchResult;
using smm::queue::Claim;
using smm::sync::Decision;
using smm::sync::PollOutcome;
using Kind = smm::queue::Completion::Kind;

namespace {

smm::sync::Policy test_policy() {
  smm::config::Config config;
  config.status_map = {{"pending", "pending"},   {"processing", "processing"},
                       {"in progress", "processing"}, {"success", "success"},
                       {"completed", "success"}, {"partial", "partial"},
                       {"error", "error"},       {"canceled", "canceled"}};
  return smm::sync::Policy::from_config(config);
}

FetchResult answer(smm::provider::ParseResult parsed, long http_status = 200) {
  FetchResult result;
  result.http_status = http_status;
  result.answer = std::move(parsed);
  return result;
}

FetchResult report(std::string word, std::optional<std::int64_t> start,
                   std::optional<std::int64_t> remains) {
  return answer(smm::provider::StatusReport{std::move(word), start, remains});
}

Claim claim(int attempts = 0, int failures = 0) {
  return Claim{"12345", 7, attempts, failures};
}

}  // namespace

TEST(Decision, KnownStatusIsWrittenWithCounts) {
  Decision d = smm::sync::decide(report("partial", 3572, 157), claim(), test_policy(), 0.5);
  EXPECT_EQ(d.outcome, PollOutcome::status_known);
  ASSERT_TRUE(d.write.has_value());
  EXPECT_EQ(d.write->id, "12345");
  EXPECT_EQ(d.write->status, "partial");
  EXPECT_EQ(d.write->start_count, 3572);
  EXPECT_EQ(d.write->remains, 157);
}

TEST(Decision, UnreportedCountsStayUnreported) {
  Decision d = smm::sync::decide(report("processing", std::nullopt, std::nullopt), claim(),
                                 test_policy(), 0.5);
  ASSERT_TRUE(d.write.has_value());
  EXPECT_FALSE(d.write->start_count.has_value());
  EXPECT_FALSE(d.write->remains.has_value());
}

TEST(Decision, UnknownWordIsNotWrittenAndRepolled) {
  Decision d = smm::sync::decide(report("refilling", 1, 2), claim(), test_policy(), 0.5);
  EXPECT_EQ(d.outcome, PollOutcome::status_unknown);
  EXPECT_FALSE(d.write.has_value());
  EXPECT_EQ(d.kind, Kind::reschedule);
  EXPECT_EQ(d.delay, 60s);
  EXPECT_EQ(d.reason, "refilling");
}

TEST(Decision, OrderNotFoundBurnsAnAttempt) {
  auto result = answer(smm::provider::Rejection{"Pesanan tidak ditemukan"});
  Decision d = smm::sync::decide(result, claim(2), test_policy(), 0.5);
  EXPECT_EQ(d.outcome, PollOutcome::order_rejected);
  EXPECT_FALSE(d.write.has_value());
  EXPECT_EQ(d.kind, Kind::retry_rejected);
  // Full jitter over 5 min * 2^2, at the midpoint.
  EXPECT_EQ(d.delay, 10min);
}

TEST(Decision, LastAttemptGoesToDeadListWithMessage) {
  auto result = answer(smm::provider::Rejection{"Pesanan tidak ditemukan"});
  Decision d = smm::sync::decide(result, claim(7), test_policy(), 0.5);
  EXPECT_EQ(d.kind, Kind::dead);
  EXPECT_EQ(d.reason, "Pesanan tidak ditemukan");
}

TEST(Decision, CredentialRejectionSparesOrderAttempts) {
  for (const char* message : {"API Key salah", "Secret Key salah", "IP tidak diizinkan",
                              "Your IP address is not in the whitelist", "Akun di-suspend",
                              "Permintaan tidak sesuai"}) {
    auto result = answer(smm::provider::Rejection{message});
    Decision d = smm::sync::decide(result, claim(7), test_policy(), 0.5);
    EXPECT_EQ(d.outcome, PollOutcome::account_rejected) << message;
    EXPECT_EQ(d.kind, Kind::retry_transient) << message;
    EXPECT_TRUE(d.hand_back) << message;
    EXPECT_FALSE(d.write.has_value()) << message;
  }
}

TEST(Decision, TooManyRequestsPausesForRetryAfter) {
  FetchResult result = answer(smm::provider::MalformedAnswer{"not JSON", "<html>"}, 429);
  result.retry_after = 30s;
  Decision d = smm::sync::decide(result, claim(), test_policy(), 0.5);
  EXPECT_EQ(d.outcome, PollOutcome::throttled);
  EXPECT_FALSE(d.write.has_value());
  ASSERT_TRUE(d.pause_provider.has_value());
  EXPECT_EQ(*d.pause_provider, 30s);
  EXPECT_GE(d.delay, 30s);
  EXPECT_EQ(d.kind, Kind::retry_transient);
}

TEST(Decision, UnavailableWithRetryAfterIsThrottling) {
  FetchResult result = answer(smm::provider::MalformedAnswer{"not JSON", ""}, 503);
  result.retry_after = 5s;
  Decision d = smm::sync::decide(result, claim(), test_policy(), 0.5);
  EXPECT_EQ(d.outcome, PollOutcome::throttled);
  EXPECT_EQ(*d.pause_provider, 5s);
}

TEST(Decision, ServerErrorIsTransientEvenWithValidBody) {
  // A 5xx never counts as an answer, even if its body parses.
  Decision d = smm::sync::decide(answer(smm::provider::StatusReport{"success", 1, 0}, 500),
                                 claim(0, 3), test_policy(), 0.5);
  EXPECT_EQ(d.outcome, PollOutcome::http_error);
  EXPECT_FALSE(d.write.has_value());
  EXPECT_EQ(d.kind, Kind::retry_transient);
  EXPECT_EQ(d.delay, 8s);  // 2 s * 2^3 at the midpoint
}

TEST(Decision, ForbiddenStatusIsTransportFault) {
  Decision d = smm::sync::decide(answer(smm::provider::Rejection{"Pesanan tidak ditemukan"}, 403),
                                 claim(7), test_policy(), 0.5);
  EXPECT_EQ(d.outcome, PollOutcome::http_error);
  EXPECT_NE(d.kind, Kind::dead);
}

TEST(Decision, MalformedAnswerIsTransient) {
  Decision d = smm::sync::decide(answer(smm::provider::MalformedAnswer{"empty body", ""}),
                                 claim(7), test_policy(), 0.5);
  EXPECT_EQ(d.outcome, PollOutcome::malformed);
  EXPECT_FALSE(d.write.has_value());
  EXPECT_EQ(d.kind, Kind::retry_transient);
}

TEST(Decision, TransportErrorIsTransient) {
  FetchResult result;
  result.transport_error = smm::errc::http_timeout;
  Decision d = smm::sync::decide(result, claim(7), test_policy(), 0.5);
  EXPECT_EQ(d.outcome, PollOutcome::transport_error);
  EXPECT_EQ(d.kind, Kind::retry_transient);
  EXPECT_FALSE(d.write.has_value());
}

TEST(Decision, TransportErrorCarriesCurlDetail) {
  FetchResult result;
  result.transport_error = smm::errc::http_transport;
  result.transport_detail = "SSL certificate problem: self-signed certificate";
  Decision d = smm::sync::decide(result, claim(), test_policy(), 0.5);
  EXPECT_NE(d.reason.find("self-signed certificate"), std::string::npos) << d.reason;
}

TEST(DecisionAfterWrite, FinalStatusLeavesSchedule) {
  smm::store::StatusUpdate update{"12345", "success", 1, 0};
  auto next = smm::sync::decide_after_write({}, smm::store::WriteOutcome::updated, update,
                                            claim(), test_policy(), 0.5);
  EXPECT_EQ(next.kind, Kind::done);
}

TEST(DecisionAfterWrite, UnchangedFinalStillLeavesSchedule) {
  smm::store::StatusUpdate update{"12345", "error", 1, 100};
  auto next = smm::sync::decide_after_write({}, smm::store::WriteOutcome::unchanged, update,
                                            claim(), test_policy(), 0.5);
  EXPECT_EQ(next.kind, Kind::done);
}

TEST(DecisionAfterWrite, PendingUsesPendingInterval) {
  smm::store::StatusUpdate update{"12345", "pending", 1, 100};
  auto next = smm::sync::decide_after_write({}, smm::store::WriteOutcome::updated, update,
                                            claim(), test_policy(), 0.5);
  EXPECT_EQ(next.kind, Kind::reschedule);
  EXPECT_EQ(next.delay, 60s);
}

TEST(DecisionAfterWrite, ProcessingUsesProcessingInterval) {
  smm::store::StatusUpdate update{"12345", "processing", 1, 100};
  auto next = smm::sync::decide_after_write({}, smm::store::WriteOutcome::unchanged, update,
                                            claim(), test_policy(), 0.0);
  EXPECT_EQ(next.kind, Kind::reschedule);
  EXPECT_EQ(next.delay, 27s);  // 30 s minus 10 % jitter
}

TEST(DecisionAfterWrite, MissingRowLeavesSchedule) {
  smm::store::StatusUpdate update{"12345", "processing", 1, 100};
  auto next = smm::sync::decide_after_write({}, smm::store::WriteOutcome::no_row, update,
                                            claim(), test_policy(), 0.5);
  EXPECT_EQ(next.kind, Kind::done);
}

TEST(DecisionAfterWrite, FinalRowIsNotPolledAgain) {
  smm::store::StatusUpdate update{"12345", "processing", 1, 100};
  auto next = smm::sync::decide_after_write({}, smm::store::WriteOutcome::final_protected,
                                            update, claim(), test_policy(), 0.5);
  EXPECT_EQ(next.kind, Kind::done);
}

TEST(DecisionAfterWrite, FailedWriteIsRetried) {
  smm::store::StatusUpdate update{"12345", "success", 1, 0};
  auto next = smm::sync::decide_after_write(smm::errc::pg_connection_lost,
                                            smm::store::WriteOutcome::updated, update, claim(),
                                            test_policy(), 0.5);
  EXPECT_EQ(next.kind, Kind::retry_transient);
  EXPECT_EQ(next.delay, 1s);
}

TEST(StatusMap, FinalValuesFromConfig) {
  auto policy = test_policy();
  EXPECT_TRUE(policy.status_map.is_final("success"));
  EXPECT_TRUE(policy.status_map.is_final("partial"));
  EXPECT_TRUE(policy.status_map.is_final("error"));
  EXPECT_TRUE(policy.status_map.is_final("canceled"));
  EXPECT_FALSE(policy.status_map.is_final("pending"));
  EXPECT_FALSE(policy.status_map.is_final("processing"));
}

TEST(StatusMap, SynonymsMapToOneLocalValue) {
  auto policy = test_policy();
  EXPECT_EQ(policy.status_map.local_status("in progress"), "processing");
  EXPECT_EQ(policy.status_map.local_status("completed"), "success");
  EXPECT_EQ(policy.status_map.local_status("refunded"), std::nullopt);
}

TEST(Decision, ForbiddenWithCredentialMessageIsAccountRejection) {
  for (long status : {401L, 403L}) {
    Decision d = smm::sync::decide(answer(smm::provider::Rejection{"API Key salah"}, status), claim(),
                                   test_policy(), 0.5);
    EXPECT_EQ(d.outcome, PollOutcome::account_rejected) << status;
    EXPECT_TRUE(d.hand_back) << status;
  }
}

TEST(Decision, ForbiddenHtmlPageIsTransient) {
  Decision d = smm::sync::decide(answer(smm::provider::MalformedAnswer{"not JSON", "<html>"}, 403),
                                 claim(), test_policy(), 0.5);
  EXPECT_EQ(d.outcome, PollOutcome::http_error);
  EXPECT_FALSE(d.hand_back);
}

TEST(Decision, RetryAfterPauseIsCappedByMaxPause) {
  smm::sync::Policy policy = test_policy();
  policy.max_pause = 60s;
  FetchResult result = answer(smm::provider::MalformedAnswer{"not JSON", "<html>"}, 429);
  result.retry_after = 3600s;
  Decision d = smm::sync::decide(result, claim(), policy, 0.5);
  ASSERT_TRUE(d.pause_provider.has_value());
  EXPECT_EQ(*d.pause_provider, 60s);
}
