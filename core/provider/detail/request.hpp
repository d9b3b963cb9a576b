#pragma once
// One status request on a libcurl easy handle: the options it is sent with
// and how its outcome becomes a FetchResult. No multi handle and no Asio
// here, so the client's event plumbing stays apart from HTTP details.

#include <chrono>
#include <string>
#include <string_view>
#include <system_error>

#include <curl/curl.h>

#include "config/config.hpp"
#include "provider/client.hpp"

namespace smm::provider::detail {

// One easy handle and the buffers libcurl points into. The client keeps a
// pool of these: the options that never change are set once when the handle
// is made, and each request only sets its body. It must stay at one address
// while libcurl keeps pointers into it (for as long as the handle lives).
struct Transfer {
  CURL* easy = nullptr;
  std::string order_id;
  std::string form_body;  // contains the credentials, so it is never logged
  std::string response;
  std::size_t max_response_bytes = 0;
  bool body_too_large = false;
  bool active = false;    // added to the multi handle
  char error_buffer[CURL_ERROR_SIZE] = {};
  std::chrono::steady_clock::time_point started;
  Client::Callback done;
};

// Socket hooks set on every easy handle, so the client sees each socket
// libcurl opens for a connection and closes each one itself.
struct SocketHooks {
  curl_opensocket_callback open = nullptr;
  curl_closesocket_callback close = nullptr;
  void* data = nullptr;
};

// Returns base_url without trailing slashes, followed by "/api/status".
std::string status_url(const std::string& base_url);

// Returns the User-Agent header line for `user_agent`, or "User-Agent:",
// which makes libcurl send none, when it is empty. Sent as a custom header
// because CURLOPT_USERAGENT makes libcurl format the line again for every
// request.
std::string user_agent_header(const std::string& user_agent);

// Percent-encodes `value` for a form body: every byte but ASCII letters,
// digits and "-._~" becomes %XX, as curl_easy_escape() does.
std::string form_encode(std::string_view value);

// The part of the form body that is the same for every request: the three
// credentials, encoded, followed by "&id=".
std::string form_prefix(const config::ProviderConfig& config);

// Sets the options that are the same for every status request on
// `transfer.easy`, which must be fresh: URL, headers, limits, TLS, and the
// callbacks pointing at `transfer`. Returns errc::http_transport when
// libcurl rejects an option.
std::error_code configure_handle(Transfer& transfer, const config::ProviderConfig& config,
                                 const std::string& url, curl_slist* headers,
                                 const SocketHooks& hooks);

// Readies a configured `transfer` for one request for `order_id`: the body
// (`prefix` followed by the encoded id) and empty response buffers.
std::error_code prepare_request(Transfer& transfer, std::string_view prefix,
                                const std::string& order_id);

// Builds the result of a finished transfer from its curl code, the response
// code and headers libcurl recorded, and the body.
FetchResult make_result(Transfer& transfer, CURLcode code);

// The text to log for a failed transfer: libcurl's detailed message when it
// wrote one, else the generic text of `code`.
std::string curl_error_text(const Transfer& transfer, CURLcode code);

}  // namespace smm::provider::detail
