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

TEST(ConfigureRequest, EncodesFormFields) {
  EasyHandle easy(curl_easy_init());
  ASSERT_NE(easy, nullptr);
  Transfer transfer;
  transfer.easy = easy.get();
  transfer.order_id = "12345";

  std::error_code error =
      configure_request(transfer, sample_config(), "https://provider.example/api/status", nullptr, {});

  EXPECT_FALSE(error) << error.message();
  EXPECT_EQ(transfer.form_body,
            "api_id=id%201&api_key=key%26%3D%2B&secret_key=s%2F%C3%A9&id=12345");
}

TEST(ConfigureRequest, CopiesResponseCap) {
  EasyHandle easy(curl_easy_init());
  ASSERT_NE(easy, nullptr);
  Transfer transfer;
  transfer.easy = easy.get();
  config::ProviderConfig config = sample_config();
  config.max_response_bytes = 1234;

  ASSERT_FALSE(configure_request(transfer, config, "https://provider.example/api/status", nullptr, {}));

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
