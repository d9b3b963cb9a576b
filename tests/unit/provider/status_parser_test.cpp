#include "provider/status_parser.hpp"

#include <string>
#include <variant>

#include <gtest/gtest.h>

namespace smm::provider {
namespace {

// Renders a result for failure messages.
std::string describe(const ParseResult& result) {
  if (const auto* report = std::get_if<StatusReport>(&result)) {
    return "StatusReport{" + report->status_word + ", " +
           (report->start_count ? std::to_string(*report->start_count) : "none") + ", " +
           (report->remains ? std::to_string(*report->remains) : "none") + "}";
  }
  if (const auto* rejection = std::get_if<Rejection>(&result)) {
    return "Rejection{" + rejection->message + "}";
  }
  const auto& bad = std::get<MalformedAnswer>(result);
  return "MalformedAnswer{" + bad.reason + ", snippet=" + bad.snippet + "}";
}

// A success answer with `fields` as the inside of the data object.
std::string success_with(const std::string& fields) {
  return R"({"response": true, "data": {"id": 12345, )" + fields + "}}";
}

#define ASSERT_REPORT(result, report)                              \
  const auto* report = std::get_if<StatusReport>(&(result));       \
  ASSERT_NE(report, nullptr) << describe(result)

#define ASSERT_REJECTION(result, rejection)                        \
  const auto* rejection = std::get_if<Rejection>(&(result));       \
  ASSERT_NE(rejection, nullptr) << describe(result)

#define ASSERT_MALFORMED(result, bad)                              \
  const auto* bad = std::get_if<MalformedAnswer>(&(result));       \
  ASSERT_NE(bad, nullptr) << describe(result)

// --- The documented CentralSMM success answer ------------------------------

TEST(StatusParser, ReadsDocumentedSuccessAnswer) {
  auto result = parse_status_answer(
      R"({"response": true, "data": {"id": 12345, "price": 23000, "status": "Pending",)"
      R"( "start_count": 232, "remains": 50000}})");
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->status_word, "pending");
  EXPECT_EQ(report->start_count, 232);
  EXPECT_EQ(report->remains, 50000);
}

TEST(StatusParser, NormalisesPendingThenSuccess) {
  auto pending = parse_status_answer(success_with(R"("status": "Pending")"));
  auto success = parse_status_answer(success_with(R"("status": "Success")"));
  ASSERT_REPORT(pending, pending_report);
  ASSERT_REPORT(success, success_report);
  EXPECT_EQ(pending_report->status_word, "pending");
  EXPECT_EQ(success_report->status_word, "success");
}

TEST(StatusParser, IgnoresExtraFields) {
  auto result = parse_status_answer(
      R"({"response": true, "server": "node-3", "data": {"status": "Processing",)"
      R"( "price": "0.27819", "target": "https://example.com/p/1",)"
      R"( "extra": {"nested": [1, {"x": null}], "flag": false}, "remains": 10}})");
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->status_word, "processing");
  EXPECT_EQ(report->remains, 10);
}

// --- Success flag variants --------------------------------------------------

TEST(StatusParser, AcceptsStatusKeyAsSuccessFlag) {
  auto result = parse_status_answer(R"({"status": true, "data": {"status": "Success"}})");
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->status_word, "success");
}

TEST(StatusParser, AcceptsResultKeyAsSuccessFlag) {
  auto result = parse_status_answer(R"({"result": true, "data": {"status": "Success"}})");
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->status_word, "success");
}

TEST(StatusParser, AcceptsStringTrueFlag) {
  auto result = parse_status_answer(R"({"response": "true", "data": {"status": "Pending"}})");
  ASSERT_REPORT(result, report);
}

TEST(StatusParser, AcceptsUpperCaseStringTrueFlag) {
  auto result = parse_status_answer(R"({"response": " TRUE ", "data": {"status": "Pending"}})");
  ASSERT_REPORT(result, report);
}

TEST(StatusParser, AcceptsNumberOneFlag) {
  auto result = parse_status_answer(R"({"response": 1, "data": {"status": "Pending"}})");
  ASSERT_REPORT(result, report);
}

TEST(StatusParser, AcceptsStringOneFlag) {
  auto result = parse_status_answer(R"({"status": "1", "data": {"status": "Pending"}})");
  ASSERT_REPORT(result, report);
}

TEST(StatusParser, TopLevelStatusWordIsNotAFlag) {
  auto result = parse_status_answer(
      R"({"status": "Completed", "start_count": "10", "remains": "0", "charge": "0.5"})");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "no success flag");
}

TEST(StatusParser, MissingFlagIsMalformed) {
  auto result = parse_status_answer(R"({"data": {"status": "Pending", "remains": 5}})");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "no success flag");
}

TEST(StatusParser, NumberTwoIsNotAFlag) {
  auto result = parse_status_answer(R"({"response": 2, "data": {"status": "Pending"}})");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "no success flag");
}

TEST(StatusParser, NullFlagIsNotAFlag) {
  auto result = parse_status_answer(R"({"response": null, "data": {"status": "Pending"}})");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "no success flag");
}

TEST(StatusParser, SuccessWithoutDataIsMalformed) {
  auto result = parse_status_answer(R"({"response": true})");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "no status word");
}

TEST(StatusParser, SuccessWithoutStatusIsMalformed) {
  auto result = parse_status_answer(success_with(R"("start_count": 1, "remains": 2)"));
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "no status word");
}

TEST(StatusParser, SuccessWithNumericStatusIsMalformed) {
  auto result = parse_status_answer(success_with(R"("status": 3)"));
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "no status word");
}

TEST(StatusParser, SuccessWithNullStatusIsMalformed) {
  auto result = parse_status_answer(success_with(R"("status": null)"));
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "no status word");
}

TEST(StatusParser, SuccessWithBlankStatusIsMalformed) {
  auto result = parse_status_answer(success_with(R"("status": " _ ")"));
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "no status word");
}

TEST(StatusParser, SuccessWithDataArrayIsMalformed) {
  auto result = parse_status_answer(R"({"response": true, "data": [{"status": "Pending"}]})");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "no status word");
}

// --- Rejections ---------------------------------------------------------------

TEST(StatusParser, OrderNotFoundIsRejection) {
  auto result =
      parse_status_answer(R"({"response": false, "data": {"msg": "Pesanan tidak ditemukan"}})");
  ASSERT_REJECTION(result, rejection);
  EXPECT_EQ(rejection->message, "Pesanan tidak ditemukan");
}

TEST(StatusParser, CredentialsMessageIsRejection) {
  auto result = parse_status_answer(R"({"response": false, "data": {"msg": "API Key salah"}})");
  ASSERT_REJECTION(result, rejection);
  EXPECT_EQ(rejection->message, "API Key salah");
}

TEST(StatusParser, ReadsPesanMessage) {
  auto result = parse_status_answer(R"({"status": false, "data": {"pesan": "IP tidak diizinkan"}})");
  ASSERT_REJECTION(result, rejection);
  EXPECT_EQ(rejection->message, "IP tidak diizinkan");
}

TEST(StatusParser, ReadsTopLevelMsg) {
  auto result = parse_status_answer(R"({"status": false, "msg": "Permintaan tidak sesuai"})");
  ASSERT_REJECTION(result, rejection);
  EXPECT_EQ(rejection->message, "Permintaan tidak sesuai");
}

TEST(StatusParser, ReadsTopLevelMessage) {
  auto result = parse_status_answer(R"({"result": false, "message": "Invalid key"})");
  ASSERT_REJECTION(result, rejection);
  EXPECT_EQ(rejection->message, "Invalid key");
}

TEST(StatusParser, ReadsTopLevelErrorWithFalseFlag) {
  auto result = parse_status_answer(R"({"response": false, "error": "Account suspended"})");
  ASSERT_REJECTION(result, rejection);
  EXPECT_EQ(rejection->message, "Account suspended");
}

TEST(StatusParser, PrefersDataMsgOverTopLevelMessage) {
  auto result = parse_status_answer(
      R"({"response": false, "message": "generic", "data": {"msg": "Pesanan tidak ditemukan"}})");
  ASSERT_REJECTION(result, rejection);
  EXPECT_EQ(rejection->message, "Pesanan tidak ditemukan");
}

TEST(StatusParser, SkipsNullAndEmptyMessages) {
  auto result = parse_status_answer(
      R"({"response": false, "data": {"msg": null, "pesan": ""}, "msg": "Order not found"})");
  ASSERT_REJECTION(result, rejection);
  EXPECT_EQ(rejection->message, "Order not found");
}

TEST(StatusParser, NonStringMessageKeepsJsonText) {
  auto result =
      parse_status_answer(R"({"response": false, "data": {"msg": {"code": 7, "text": "x"}}})");
  ASSERT_REJECTION(result, rejection);
  EXPECT_EQ(rejection->message, R"({"code":7,"text":"x"})");
}

TEST(StatusParser, BareStringDataIsMessage) {
  auto result = parse_status_answer(R"({"status": false, "data": "Order not found"})");
  ASSERT_REJECTION(result, rejection);
  EXPECT_EQ(rejection->message, "Order not found");
}

TEST(StatusParser, RejectionWithoutMessageHasDefaultText) {
  auto result = parse_status_answer(R"({"response": false})");
  ASSERT_REJECTION(result, rejection);
  EXPECT_EQ(rejection->message, "provider rejected the request without a message");
}

TEST(StatusParser, StringFalseFlagIsRejection) {
  auto result = parse_status_answer(R"({"response": "false", "data": {"msg": "x"}})");
  ASSERT_REJECTION(result, rejection);
}

TEST(StatusParser, NumberZeroFlagIsRejection) {
  auto result = parse_status_answer(R"({"response": 0, "data": {"msg": "x"}})");
  ASSERT_REJECTION(result, rejection);
}

TEST(StatusParser, StringZeroFlagIsRejection) {
  auto result = parse_status_answer(R"({"status": "0", "data": {"msg": "x"}})");
  ASSERT_REJECTION(result, rejection);
}

TEST(StatusParser, FalseFlagWinsOverStatusData) {
  auto result = parse_status_answer(
      R"({"response": false, "data": {"status": "Success", "msg": "Pesanan tidak ditemukan"}})");
  ASSERT_REJECTION(result, rejection);
  EXPECT_EQ(rejection->message, "Pesanan tidak ditemukan");
}

TEST(StatusParser, TopLevelErrorWithoutFlagIsRejection) {
  auto result = parse_status_answer(R"({"error": "Incorrect order ID"})");
  ASSERT_REJECTION(result, rejection);
  EXPECT_EQ(rejection->message, "Incorrect order ID");
}

TEST(StatusParser, ErrorTrueWithoutFlagUsesMessage) {
  auto result = parse_status_answer(R"({"error": true, "message": "Invalid API key"})");
  ASSERT_REJECTION(result, rejection);
  EXPECT_EQ(rejection->message, "Invalid API key");
}

TEST(StatusParser, ErrorFalseWithoutFlagIsMalformed) {
  auto result = parse_status_answer(R"({"error": false, "data": {"status": "Pending"}})");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "no success flag");
}

TEST(StatusParser, EmptyErrorWithoutFlagIsMalformed) {
  auto result = parse_status_answer(R"({"error": ""})");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "no success flag");
}

// --- Counts -----------------------------------------------------------------------

TEST(StatusParser, PartialWithStringCountsIsFinalReport) {
  auto result = parse_status_answer(
      R"({"response": true, "data": {"status": "Partial", "start_count": "3572", "remains": "157"}})");
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->status_word, "partial");
  EXPECT_EQ(report->start_count, 3572);
  EXPECT_EQ(report->remains, 157);
}

TEST(StatusParser, KeepsNegativeRemainsString) {
  auto result = parse_status_answer(success_with(R"("status": "Success", "remains": "-2")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->status_word, "success");
  EXPECT_EQ(report->remains, -2);
}

TEST(StatusParser, KeepsNegativeRemainsNumber) {
  auto result = parse_status_answer(success_with(R"("status": "Success", "remains": -2)"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->remains, -2);
}

TEST(StatusParser, UnknownRemainsIsNotReported) {
  auto result = parse_status_answer(
      success_with(R"("status": "Processing", "start_count": 100, "remains": "Unknown")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->status_word, "processing");
  EXPECT_EQ(report->start_count, 100);
  EXPECT_EQ(report->remains, std::nullopt);
}

TEST(StatusParser, NullCountsAreNotReported) {
  auto result =
      parse_status_answer(success_with(R"("status": "Pending", "start_count": null, "remains": null)"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->start_count, std::nullopt);
  EXPECT_EQ(report->remains, std::nullopt);
}

TEST(StatusParser, MissingCountsAreNotReported) {
  auto result = parse_status_answer(success_with(R"("status": "Pending")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->start_count, std::nullopt);
  EXPECT_EQ(report->remains, std::nullopt);
}

TEST(StatusParser, EmptyStringCountsAreNotReported) {
  auto result =
      parse_status_answer(success_with(R"("status": "Pending", "start_count": "", "remains": "")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->start_count, std::nullopt);
  EXPECT_EQ(report->remains, std::nullopt);
}

TEST(StatusParser, BlankStringCountIsNotReported) {
  auto result = parse_status_answer(success_with(R"("status": "Pending", "remains": "   ")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->remains, std::nullopt);
}

TEST(StatusParser, ZeroNumbersAreZero) {
  auto result =
      parse_status_answer(success_with(R"("status": "Success", "start_count": 0, "remains": 0)"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->start_count, 0);
  EXPECT_EQ(report->remains, 0);
}

TEST(StatusParser, ZeroStringsAreZero) {
  auto result = parse_status_answer(
      success_with(R"("status": "Success", "start_count": "0", "remains": "0")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->start_count, 0);
  EXPECT_EQ(report->remains, 0);
}

TEST(StatusParser, PaddedNumericStringIsTrimmed) {
  auto result = parse_status_answer(success_with(R"("status": "Pending", "remains": " 15 ")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->remains, 15);
}

TEST(StatusParser, PlusSignedStringIsCount) {
  auto result = parse_status_answer(success_with(R"("status": "Pending", "remains": "+5")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->remains, 5);
}

TEST(StatusParser, PlusMinusStringIsNotReported) {
  auto result = parse_status_answer(success_with(R"("status": "Pending", "remains": "+-5")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->remains, std::nullopt);
}

TEST(StatusParser, ZeroFractionStringIsCount) {
  auto result = parse_status_answer(success_with(R"("status": "Pending", "remains": "12.0")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->remains, 12);
}

TEST(StatusParser, IntegralFloatIsCount) {
  auto result = parse_status_answer(success_with(R"("status": "Pending", "remains": 12.0)"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->remains, 12);
}

TEST(StatusParser, DecimalStringIsNotReported) {
  auto result = parse_status_answer(success_with(R"("status": "Pending", "remains": "0.27819")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->remains, std::nullopt);
}

TEST(StatusParser, FractionalFloatIsNotReported) {
  auto result = parse_status_answer(success_with(R"("status": "Pending", "start_count": 10.5)"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->start_count, std::nullopt);
}

TEST(StatusParser, ExponentStringIsNotReported) {
  auto result = parse_status_answer(success_with(R"("status": "Pending", "remains": "1e3")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->remains, std::nullopt);
}

TEST(StatusParser, DigitsWithTrailingTextAreNotReported) {
  auto result = parse_status_answer(success_with(R"("status": "Pending", "remains": "12 pcs")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->remains, std::nullopt);
}

TEST(StatusParser, ThousandsSeparatorIsNotReported) {
  auto result = parse_status_answer(success_with(R"("status": "Pending", "remains": "1,234")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->remains, std::nullopt);
}

TEST(StatusParser, BooleanCountIsNotReported) {
  auto result = parse_status_answer(success_with(R"("status": "Pending", "remains": true)"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->remains, std::nullopt);
}

TEST(StatusParser, ObjectCountIsNotReported) {
  auto result = parse_status_answer(success_with(R"("status": "Pending", "remains": {"v": 1})"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->remains, std::nullopt);
}

TEST(StatusParser, Int64LimitsAreCounts) {
  auto result = parse_status_answer(success_with(
      R"("status": "Pending", "start_count": 9223372036854775807, "remains": "-9223372036854775808")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->start_count, INT64_MAX);
  EXPECT_EQ(report->remains, INT64_MIN);
}

TEST(StatusParser, NumberAboveInt64IsNotReported) {
  auto result =
      parse_status_answer(success_with(R"("status": "Pending", "start_count": 9223372036854775808)"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->start_count, std::nullopt);
}

TEST(StatusParser, HugeNumberIsNotReported) {
  auto result = parse_status_answer(
      success_with(R"("status": "Pending", "start_count": 123456789012345678901234567890)"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->start_count, std::nullopt);
}

TEST(StatusParser, HugeExponentIsNotReported) {
  auto result = parse_status_answer(success_with(R"("status": "Pending", "remains": 1e300)"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->remains, std::nullopt);
}

TEST(StatusParser, HugeNumericStringIsNotReported) {
  auto result = parse_status_answer(
      success_with(R"("status": "Pending", "remains": "99999999999999999999")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->remains, std::nullopt);
}

// --- Status words -------------------------------------------------------------------

TEST(StatusParser, UpperCaseWordIsLowered) {
  auto result = parse_status_answer(success_with(R"("status": "PENDING")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->status_word, "pending");
}

TEST(StatusParser, PaddedWordIsTrimmed) {
  auto result = parse_status_answer(success_with(R"("status": " SUCCESS ")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->status_word, "success");
}

TEST(StatusParser, UnderscoredWordGetsSpace) {
  auto result = parse_status_answer(success_with(R"("status": "in_progress")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->status_word, "in progress");
}

TEST(StatusParser, SpacedUpperCaseWordIsFolded) {
  auto result = parse_status_answer(success_with(R"("status": "IN   PROGRESS")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->status_word, "in progress");
}

TEST(StatusParser, UnknownWordIsStillReported) {
  auto result = parse_status_answer(success_with(R"("status": "Refunded")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->status_word, "refunded");
}

TEST(NormalizeStatusWord, LowersAscii) { EXPECT_EQ(normalize_status_word("Completed"), "completed"); }

TEST(NormalizeStatusWord, TrimsTabsAndNewlines) {
  EXPECT_EQ(normalize_status_word("\tCanceled\r\n"), "canceled");
}

TEST(NormalizeStatusWord, FoldsMixedSeparators) {
  EXPECT_EQ(normalize_status_word("In _ \t_Progress"), "in progress");
}

TEST(NormalizeStatusWord, DropsEdgeUnderscores) {
  EXPECT_EQ(normalize_status_word("__pending__"), "pending");
}

TEST(NormalizeStatusWord, KeepsHyphen) {
  EXPECT_EQ(normalize_status_word("In-Progress"), "in-progress");
}

TEST(NormalizeStatusWord, KeepsNonAsciiBytes) {
  EXPECT_EQ(normalize_status_word("Pending\xC3\x89"), "pending\xC3\x89");
}

TEST(NormalizeStatusWord, BlankBecomesEmpty) { EXPECT_EQ(normalize_status_word(" \t_ "), ""); }

// --- Bodies that are not an answer -----------------------------------------------

TEST(StatusParser, EmptyBodyIsMalformed) {
  auto result = parse_status_answer("");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "empty body");
}

TEST(StatusParser, WhitespaceBodyIsEmpty) {
  auto result = parse_status_answer(" \r\n\t ");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "empty body");
}

TEST(StatusParser, BomOnlyBodyIsEmpty) {
  auto result = parse_status_answer("\xEF\xBB\xBF\n");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "empty body");
}

TEST(StatusParser, HtmlPageIsMalformed) {
  std::string body =
      "<!DOCTYPE html>\n<html><head><title>Just a moment...</title>"
      "<style>body { color: red; }</style></head>\n{\"response\": true}</html>";
  auto result = parse_status_answer(body);
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason.rfind("not JSON: ", 0), 0U) << bad->reason;
}

TEST(StatusParser, MaintenancePageIsMalformed) {
  auto result = parse_status_answer("<html><body><h1>503 Service Unavailable</h1></body></html>");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason.rfind("not JSON: ", 0), 0U) << bad->reason;
}

TEST(StatusParser, PlainTextIsMalformed) {
  auto result = parse_status_answer("Too Many Requests");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason.rfind("not JSON: ", 0), 0U) << bad->reason;
}

TEST(StatusParser, TruncatedJsonIsMalformed) {
  auto result = parse_status_answer(R"({"response": true, "data": {"status": "Pen)");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason.rfind("not JSON: ", 0), 0U) << bad->reason;
}

TEST(StatusParser, TruncatedJsonReasonNamesParserError) {
  auto result = parse_status_answer(R"({"response": true, "data": {"status": "Pending")");
  ASSERT_MALFORMED(result, bad);
  EXPECT_NE(bad->reason.find("Missing a comma or '}'"), std::string::npos) << bad->reason;
}

TEST(StatusParser, TrailingGarbageIsMalformed) {
  auto result = parse_status_answer(success_with(R"("status": "Pending")") + "<!-- cache -->");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason.rfind("not JSON: ", 0), 0U) << bad->reason;
}

TEST(StatusParser, EmbeddedNulIsMalformed) {
  std::string body = success_with(R"("status": "Pending")");
  body.insert(5, 1, '\0');
  auto result = parse_status_answer(body);
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason.rfind("not JSON: ", 0), 0U) << bad->reason;
}

TEST(StatusParser, ArrayIsNotAnObject) {
  auto result = parse_status_answer(R"([{"response": true, "data": {"status": "Pending"}}])");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "not a JSON object");
}

TEST(StatusParser, StringIsNotAnObject) {
  auto result = parse_status_answer(R"("Pending")");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "not a JSON object");
}

TEST(StatusParser, NumberIsNotAnObject) {
  auto result = parse_status_answer("42");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "not a JSON object");
}

TEST(StatusParser, NullIsNotAnObject) {
  auto result = parse_status_answer("null");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "not a JSON object");
}

TEST(StatusParser, EmptyObjectHasNoFlag) {
  auto result = parse_status_answer("{}");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason, "no success flag");
}

TEST(StatusParser, DeeplyNestedGarbageIsMalformed) {
  std::string body(100000, '[');
  auto result = parse_status_answer(body);
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason.rfind("not JSON: ", 0), 0U) << bad->reason;
}

TEST(StatusParser, DeeplyNestedExtraFieldIsIgnored) {
  std::string nested = std::string(20000, '[') + std::string(20000, ']');
  auto result = parse_status_answer(success_with(R"("status": "Pending", "extra": )" + nested));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->status_word, "pending");
}

TEST(StatusParser, LargeAnswerParses) {
  std::string filler(60 * 1024, 'x');
  auto result = parse_status_answer(
      success_with(R"("status": "Pending", "remains": 7, "note": ")" + filler + "\""));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->remains, 7);
}

// --- Leading noise ------------------------------------------------------------------

TEST(StatusParser, StripsByteOrderMark) {
  auto result = parse_status_answer("\xEF\xBB\xBF" + success_with(R"("status": "Pending")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->status_word, "pending");
}

TEST(StatusParser, StripsRepeatedByteOrderMarks) {
  auto result = parse_status_answer("\xEF\xBB\xBF\xEF\xBB\xBF\n" +
                                    success_with(R"("status": "Pending")"));
  ASSERT_REPORT(result, report);
}

TEST(StatusParser, ToleratesLeadingWhitespace) {
  auto result = parse_status_answer("\r\n\n  \t" + success_with(R"("status": "Pending")"));
  ASSERT_REPORT(result, report);
}

TEST(StatusParser, BomBeforeGarbageIsMalformed) {
  auto result = parse_status_answer("\xEF\xBB\xBFnot json at all");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason.rfind("not JSON: ", 0), 0U) << bad->reason;
}

TEST(StatusParser, SkipsPhpTextWarning) {
  auto result = parse_status_answer(
      "\nWarning: Undefined variable $rate in /var/www/api/status.php on line 12\n" +
      success_with(R"("status": "Processing", "remains": "40")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->status_word, "processing");
  EXPECT_EQ(report->remains, 40);
}

TEST(StatusParser, SkipsPhpHtmlNotices) {
  auto result = parse_status_answer(
      "<br />\n<b>Notice</b>:  Undefined index: id in <b>/home/panel/api/status.php</b> on line "
      "<b>9</b><br />\n<br />\n<b>Deprecated</b>:  Function each() is deprecated in "
      "<b>/home/panel/lib.php</b> on line <b>3</b><br />\n" +
      success_with(R"("status": "Success")"));
  ASSERT_REPORT(result, report);
  EXPECT_EQ(report->status_word, "success");
}

TEST(StatusParser, SkipsPhpWarningContainingBrace) {
  auto result = parse_status_answer(
      "PHP Warning:  Undefined array key \"{id}\" in /srv/api.php on line 4\n" +
      success_with(R"("status": "Pending")"));
  ASSERT_REPORT(result, report);
}

TEST(StatusParser, PhpWarningBeforeRejectionIsRejection) {
  auto result = parse_status_answer(
      "Notice: Undefined offset: 1 in /srv/api.php on line 7\n"
      R"({"response": false, "data": {"msg": "Pesanan tidak ditemukan"}})");
  ASSERT_REJECTION(result, rejection);
  EXPECT_EQ(rejection->message, "Pesanan tidak ditemukan");
}

TEST(StatusParser, PhpWarningWithoutJsonIsMalformed) {
  auto result = parse_status_answer("Warning: mysqli_connect(): Connection refused in /srv/db.php");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason.rfind("not JSON: ", 0), 0U) << bad->reason;
}

TEST(StatusParser, PhpFatalErrorIsMalformed) {
  auto result = parse_status_answer(
      "<br />\n<b>Fatal error</b>:  Uncaught Error: Call to undefined function in "
      "<b>/srv/api.php</b>:3<br />");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->reason.rfind("not JSON: ", 0), 0U) << bad->reason;
}

// --- Snippets -------------------------------------------------------------------

TEST(StatusParser, SnippetReplacesControlBytes) {
  auto result = parse_status_answer("<html>\r\n<body>\tdown\x01</body></html>");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->snippet, "<html>  <body> down </body></html>");
}

TEST(StatusParser, SnippetIsCappedAtLimit) {
  std::string body = "<html>" + std::string(1000, 'a') + "</html>";
  auto result = parse_status_answer(body);
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->snippet, body.substr(0, kSnippetBytes));
}

TEST(StatusParser, SnippetDoesNotSplitUtf8) {
  std::string body = std::string(kSnippetBytes - 1, 'a') + "\xC3\xA9" + "tail";
  auto result = parse_status_answer(body);
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->snippet, std::string(kSnippetBytes - 1, 'a'));
}

TEST(StatusParser, SnippetKeepsWholeUtf8AtEdge) {
  std::string body = std::string(kSnippetBytes - 2, 'a') + "\xC3\xA9" + "tail";
  auto result = parse_status_answer(body);
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->snippet, std::string(kSnippetBytes - 2, 'a') + "\xC3\xA9");
}

TEST(StatusParser, EmptyBodySnippetIsEmpty) {
  auto result = parse_status_answer("");
  ASSERT_MALFORMED(result, bad);
  EXPECT_EQ(bad->snippet, "");
}

TEST(StatusParser, InfiniteErrorNumberStillGivesMessage) {
  auto result = parse_status_answer(R"({"error": 6.081e308})");
  const auto* rejection = std::get_if<Rejection>(&result);
  ASSERT_NE(rejection, nullptr);
  EXPECT_FALSE(rejection->message.empty());
}

TEST(StatusParser, ManyBlankLinesAfterDiagnosticStillFindJson) {
  std::string body = "<b>Warning</b>: something";
  for (int i = 0; i < 2000; ++i) body += "\n ";
  body += "\n{\"response\":true,\"data\":{\"status\":\"Pending\"}}";
  auto result = parse_status_answer(body);
  const auto* report = std::get_if<StatusReport>(&result);
  ASSERT_NE(report, nullptr);
  EXPECT_EQ(report->status_word, "pending");
}

}  // namespace
}  // namespace smm::provider
