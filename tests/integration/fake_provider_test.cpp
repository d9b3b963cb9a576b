// The fake provider as the daemon's tests and the benchmark use it: a real
// process on a free loopback port, driven over HTTP.

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "support/support.hpp"

namespace {

using smm::test::FakeProvider;
using smm::test::HttpResponse;
using smm::test::TempDir;

rapidjson::Document parse_json(const std::string& text) {
  rapidjson::Document document;
  document.Parse(text.c_str(), text.size());
  EXPECT_FALSE(document.HasParseError()) << "not JSON: " << text;
  return document;
}

// POSTs a status request for `id` and returns the parsed response body.
rapidjson::Document poll(const FakeProvider& fake, const std::string& id) {
  HttpResponse response = fake.post("/api/status", FakeProvider::status_form(id));
  EXPECT_EQ(response.status, 200) << response.body;
  return parse_json(response.body);
}

std::string status_word(const rapidjson::Document& answer) {
  if (!answer.IsObject() || !answer.HasMember("data") || !answer["data"].HasMember("status")) return "<none>";
  return answer["data"]["status"].GetString();
}

std::string failure_message(const rapidjson::Document& answer) {
  if (!answer.IsObject() || !answer.HasMember("data") || !answer["data"].HasMember("msg")) return "<none>";
  return answer["data"]["msg"].GetString();
}

std::int64_t stat(const FakeProvider& fake, const char* name) {
  rapidjson::Document stats = parse_json(fake.get("/stats"));
  EXPECT_TRUE(stats.HasMember(name)) << name;
  return stats.HasMember(name) ? stats[name].GetInt64() : -1;
}

TEST(FakeProvider, ProgressesFromPendingThroughProcessingToFinal) {
  TempDir dir;
  FakeProvider fake(dir, {"--polls-to-final", "3"});

  rapidjson::Document first = poll(fake, "12345");
  EXPECT_TRUE(first["response"].GetBool());
  EXPECT_EQ(status_word(first), "Pending");
  EXPECT_EQ(first["data"]["id"].GetInt64(), 12345);
  EXPECT_EQ(status_word(poll(fake, "12345")), "Processing");

  rapidjson::Document truth = parse_json(fake.get("/truth?id=12345"));
  std::string final_word = truth["status"].GetString();
  EXPECT_EQ(status_word(poll(fake, "12345")), final_word);
  EXPECT_EQ(status_word(poll(fake, "12345")), final_word);
  EXPECT_EQ(parse_json(fake.get("/truth?id=12345"))["polls"].GetInt(), 4);
}

TEST(FakeProvider, TruthMatchesFinalAnswerForManyIds) {
  TempDir dir;
  FakeProvider fake(dir, {"--polls-to-final", "1"});

  std::vector<std::string> words_seen;
  for (int n = 1000; n < 1060; ++n) {
    std::string id = std::to_string(n);
    rapidjson::Document answer = poll(fake, id);
    rapidjson::Document truth = parse_json(fake.get("/truth?id=" + id));
    ASSERT_TRUE(answer["response"].GetBool()) << id;
    EXPECT_EQ(status_word(answer), truth["status"].GetString()) << id;
    EXPECT_EQ(answer["data"]["start_count"].GetInt64(), truth["start_count"].GetInt64()) << id;
    EXPECT_EQ(answer["data"]["remains"].GetInt64(), truth["remains"].GetInt64()) << id;
    EXPECT_EQ(truth["polls"].GetInt(), 1) << id;
    words_seen.push_back(status_word(answer));
  }

  // 60 ids cover every final state with near certainty; a hash change that
  // collapsed them would show here.
  for (const char* word : {"Success", "Partial", "Error"}) {
    EXPECT_NE(std::find(words_seen.begin(), words_seen.end(), word), words_seen.end()) << word;
  }
}

TEST(FakeProvider, RejectsIdsWithNotFoundPrefix) {
  TempDir dir;
  FakeProvider fake(dir);

  rapidjson::Document answer = poll(fake, "404123");

  EXPECT_FALSE(answer["response"].GetBool());
  EXPECT_EQ(failure_message(answer), "Pesanan tidak ditemukan");
  EXPECT_EQ(stat(fake, "not_found"), 1);
}

TEST(FakeProvider, RejectsWrongCredentials) {
  TempDir dir;
  FakeProvider fake(dir);
  std::string form = "api_id=example-api-id&api_key=wrong&secret_key=example-secret-key&id=77";

  HttpResponse response = fake.post("/api/status", form);

  EXPECT_EQ(response.status, 200);
  rapidjson::Document answer = parse_json(response.body);
  EXPECT_FALSE(answer["response"].GetBool());
  EXPECT_EQ(failure_message(answer), "API Key salah");
  EXPECT_EQ(stat(fake, "auth_failures"), 1);
  EXPECT_EQ(parse_json(fake.get("/truth?id=77"))["polls"].GetInt(), 0);
}

TEST(FakeProvider, RejectsRequestWithoutId) {
  TempDir dir;
  FakeProvider fake(dir);
  std::string form = "api_id=example-api-id&api_key=example-api-key&secret_key=example-secret-key&order_id=77";

  rapidjson::Document answer = parse_json(fake.post("/api/status", form).body);

  EXPECT_FALSE(answer["response"].GetBool());
  EXPECT_EQ(failure_message(answer), "Permintaan tidak sesuai");
}

TEST(FakeProvider, UnknownWordIdsNeverBecomeFinal) {
  TempDir dir;
  FakeProvider fake(dir, {"--polls-to-final", "1"});

  for (int i = 0; i < 3; ++i) EXPECT_EQ(status_word(poll(fake, "555001")), "Refilling");
  EXPECT_EQ(stat(fake, "unknown_status"), 3);
}

TEST(FakeProvider, ControlDownAnswers503UntilCleared) {
  TempDir dir;
  FakeProvider fake(dir);

  HttpResponse control = fake.post("/control", "down=1");
  ASSERT_EQ(control.status, 200) << control.body;
  EXPECT_TRUE(parse_json(control.body)["down"].GetBool());

  HttpResponse down = fake.post("/api/status", FakeProvider::status_form("100"));
  EXPECT_EQ(down.status, 503);
  EXPECT_NE(down.body.find("<html>"), std::string::npos);

  ASSERT_EQ(fake.post("/control", "down=0").status, 200);
  EXPECT_EQ(status_word(poll(fake, "100")), "Pending");
}

TEST(FakeProvider, ControlRejectsUnknownField) {
  TempDir dir;
  FakeProvider fake(dir);

  EXPECT_EQ(fake.post("/control", "rate-5xx=2").status, 400);
  EXPECT_EQ(fake.post("/control", "no-such-field=1").status, 400);
}

TEST(FakeProvider, NumbersAsStringsSendsEveryNumberAsString) {
  TempDir dir;
  FakeProvider fake(dir, {"--numbers-as-strings"});

  rapidjson::Document answer = poll(fake, "4242");

  const auto& data = answer["data"];
  for (const char* field : {"id", "price", "start_count", "remains"}) {
    ASSERT_TRUE(data.HasMember(field)) << field;
    EXPECT_TRUE(data[field].IsString()) << field;
  }
  EXPECT_EQ(std::string(data["id"].GetString()), "4242");
}

TEST(FakeProvider, ServerRateLimitAnswers429WithRetryAfter) {
  TempDir dir;
  FakeProvider fake(dir, {"--server-rate-limit", "0.5", "--server-burst", "2"});

  EXPECT_EQ(fake.post("/api/status", FakeProvider::status_form("1")).status, 200);
  EXPECT_EQ(fake.post("/api/status", FakeProvider::status_form("1")).status, 200);
  HttpResponse limited = fake.post("/api/status", FakeProvider::status_form("1"));

  EXPECT_EQ(limited.status, 429);
  EXPECT_NE(limited.headers.find("Retry-After: 1"), std::string::npos) << limited.headers;
  EXPECT_EQ(stat(fake, "violations"), 1);
}

TEST(FakeProvider, RejectsOversizedBodyAndUnknownPath) {
  TempDir dir;
  FakeProvider fake(dir);

  EXPECT_EQ(fake.post("/api/status", std::string(70 * 1024, 'a')).status, 413);
  EXPECT_EQ(smm::test::http_request(fake.base_url(), "GET", "/nope").status, 404);
}

}  // namespace
