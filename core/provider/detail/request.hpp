#pragma once
// One status request on a libcurl easy handle: the options it is sent with
// and how its outcome becomes a FetchResult. No multi handle and no Asio
// here, so the client's event plumbing stays apart from HTTP details.

#include <chrono>
#include <string>
#include <system_error>

#include <curl/curl.h>

#include "config/config.hpp"
#include "provider/client.hpp"

namespace smm::provider::detail {

// A request in flight and the buffers libcurl points into. It must stay at
// one address until the easy handle is removed from the multi handle.
struct Transfer {
  CURL* easy = nullptr;
  std::string order_id;
  std::string form_body;  // contains the credentials, so it is never logged
  std::string response;
  std::size_t max_response_bytes = 0;
  bool body_too_large = false;
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

// Sets every option of a status request on `transfer.easy`, which must be
// fresh or reset. Builds the form body from the config's credentials.
// Returns errc::http_transport when libcurl rejects an option.
std::error_code configure_request(Transfer& transfer, const config::ProviderConfig& config,
                                  const std::string& url, curl_slist* headers,
                                  const SocketHooks& hooks);

// Builds the result of a finished transfer from its curl code, the response
// code and headers libcurl recorded, and the body.
FetchResult make_result(Transfer& transfer, CURLcode code);

// The text to log for a failed transfer: libcurl's detailed message when it
// wrote one, else the generic text of `code`.
std::string curl_error_text(const Transfer& transfer, CURLcode code);

}  // namespace smm::provider::detail
