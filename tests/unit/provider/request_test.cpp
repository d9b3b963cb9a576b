// Request building and result mapping of the provider client, on easy
// handles that are never performed.

#include "provider/detail/request.hpp"

#include <cstdio>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "common/error.hpp"

namespace smm::provider::detail {
namespace {

struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;

config::ProviderConfig sample_config() {
  config::ProviderConfig config;
  config.base_url = "https://provider.example";
  config.api_id = config::Secret("id 1");
  config.api_key = config::Secret("key&=+");
  config.secret_key = config::Secret("s/é");
  return config;
}

TEST(StatusUrl, AppendsPathToBareBase) {
  EXPECT_EQ(status_url("https://provider.example"), "https://provider.example/api/status");
}

TEST(StatusUrl, DropsTrailingSlashes) {
  EXPECT_EQ(status_url("https://provider.example//"), "https://provider.example/api/status");
}

TEST(StatusUrl, KeepsBasePath) {
  EXPECT_EQ(status_url("http://127.0.0.1:8080/panel/"), "http://127.0.0.1:8080/panel/api/status");
}

TEST(UserAgentHeader, NamesTheConfiguredAgent) {
  EXPECT_EQ(user_agent_header("smm-syncd/1.0"), "User-Agent: smm-syncd/1.0");
}

TEST(UserAgentHeader, EmptyAgentSuppressesHeader) {
  EXPECT_EQ(user_agent_header(""), "User-Agent:");
}

TEST(FormEncode, KeepsUnreservedCharacters) {
  EXPECT_EQ(form_encode("AZaz09-._~"), "AZaz09-._~");
}

TEST(FormEncode, EncodesEverythingElseAsUpperHex) {
  EXPECT_EQ(form_encode(" &=+/%\n"), "%20%26%3D%2B%2F%25%0A");
  EXPECT_EQ(form_encode("\xC3\xA9"), "%C3%A9");
}

TEST(FormEncode, MatchesLibcurlEscape) {
  const std::string value = "id 1&key=+/\xC3\xA9~._-";
  char* escaped = curl_easy_escape(nullptr, value.data(), static_cast<int>(value.size()));
  ASSERT_NE(escaped, nullptr);
  EXPECT_EQ(form_encode(value), escaped);
  curl_free(escaped);
}

TEST(PrepareRequest, EncodesFormFields) {
  EasyHandle easy(curl_easy_init());
  ASSERT_NE(easy, nullptr);
  Transfer transfer;
  transfer.easy = easy.get();

  std::error_code error = prepare_request(transfer, form_prefix(sample_config()), "12345");

  EXPECT_FALSE(error) << error.message();
  EXPECT_EQ(transfer.form_body,
            "api_id=id%201&api_key=key%26%3D%2B&secret_key=s%2F%C3%A9&id=12345");
  EXPECT_EQ(transfer.order_id, "12345");
}

TEST(PrepareRequest, ClearsWhatThePreviousRequestLeft) {
  EasyHandle easy(curl_easy_init());
  ASSERT_NE(easy, nullptr);
  Transfer transfer;
  transfer.easy = easy.get();
  const std::string prefix = form_prefix(sample_config());
  ASSERT_FALSE(prepare_request(transfer, prefix, "111"));
  transfer.response = "{\"response\": true}";
  transfer.body_too_large = true;
  transfer.error_buffer[0] = 'x';

  ASSERT_FALSE(prepare_request(transfer, prefix, "22"));

  EXPECT_EQ(transfer.form_body, prefix + "22");
  EXPECT_TRUE(transfer.response.empty());
  EXPECT_FALSE(transfer.body_too_large);
  EXPECT_EQ(transfer.error_buffer[0], '\0');
}

TEST(ConfigureHandle, CopiesResponseCap) {
  EasyHandle easy(curl_easy_init());
  ASSERT_NE(easy, nullptr);
  Transfer transfer;
  transfer.easy = easy.get();
  config::ProviderConfig config = sample_config();
  config.max_response_bytes = 1234;

  ASSERT_FALSE(configure_handle(transfer, config, "https://provider.example/api/status", nullptr, {}));

  EXPECT_EQ(transfer.max_response_bytes, 1234U);
}

class MakeResult : public ::testing::Test {
 protected:
  void SetUp() override {
    easy_.reset(curl_easy_init());
    ASSERT_NE(easy_, nullptr);
    transfer_.easy = easy_.get();
    transfer_.started = std::chrono::steady_clock::now();
  }

  EasyHandle easy_;
  Transfer transfer_;
};

TEST_F(MakeResult, TimeoutBecomesHttpTimeout) {
  FetchResult result = make_result(transfer_, CURLE_OPERATION_TIMEDOUT);
  EXPECT_EQ(result.transport_error, make_error_code(errc::http_timeout));
}

TEST_F(MakeResult, ConnectFailureBecomesTransport) {
  FetchResult result = make_result(transfer_, CURLE_COULDNT_CONNECT);
  EXPECT_EQ(result.transport_error, make_error_code(errc::http_transport));
}

TEST_F(MakeResult, TlsFailureBecomesTransport) {
  FetchResult result = make_result(transfer_, CURLE_PEER_FAILED_VERIFICATION);
  EXPECT_EQ(result.transport_error, make_error_code(errc::http_transport));
}

TEST_F(MakeResult, AbortedWriteOverCapBecomesBodyTooLarge) {
  transfer_.body_too_large = true;
  FetchResult result = make_result(transfer_, CURLE_WRITE_ERROR);
  EXPECT_EQ(result.transport_error, make_error_code(errc::http_body_too_large));
}

TEST_F(MakeResult, AnnouncedSizeOverCapBecomesBodyTooLarge) {
  FetchResult result = make_result(transfer_, CURLE_FILESIZE_EXCEEDED);
  EXPECT_EQ(result.transport_error, make_error_code(errc::http_body_too_large));
}

TEST_F(MakeResult, SuccessParsesBody) {
  transfer_.response = R"({"response": true, "data": {"status": "Success", "remains": "0"}})";
  FetchResult result = make_result(transfer_, CURLE_OK);
  ASSERT_FALSE(result.transport_error);
  const auto* report = std::get_if<StatusReport>(&result.answer);
  ASSERT_NE(report, nullptr);
  EXPECT_EQ(report->remains, 0);
}

TEST_F(MakeResult, FailureLeavesNoAnswer) {
  transfer_.response = R"({"response": true, "data": {"status": "Success"}})";
  FetchResult result = make_result(transfer_, CURLE_RECV_ERROR);
  EXPECT_TRUE(std::holds_alternative<MalformedAnswer>(result.answer));
}

TEST_F(MakeResult, ErrorTextPrefersCurlMessage) {
  std::snprintf(transfer_.error_buffer, sizeof transfer_.error_buffer, "%s",
                "Failed to connect to 127.0.0.1 port 9");
  EXPECT_EQ(curl_error_text(transfer_, CURLE_COULDNT_CONNECT), "Failed to connect to 127.0.0.1 port 9");
}

TEST_F(MakeResult, ErrorTextFallsBackToCodeText) {
  EXPECT_EQ(curl_error_text(transfer_, CURLE_COULDNT_CONNECT),
            std::string(curl_easy_strerror(CURLE_COULDNT_CONNECT)));
}

}  // namespace
}  // namespace smm::provider::detail
