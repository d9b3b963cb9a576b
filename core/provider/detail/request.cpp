#include "provider/detail/request.hpp"

#include <climits>
#include <optional>

#include "common/error.hpp"

namespace smm::provider::detail {
namespace {

// Returns `value` percent-encoded for a form body, or nullopt when libcurl fails.
std::optional<std::string> escape(CURL* easy, const std::string& value) {
  if (value.size() > static_cast<std::size_t>(INT_MAX)) return std::nullopt;
  char* escaped = curl_easy_escape(easy, value.data(), static_cast<int>(value.size()));
  if (escaped == nullptr) return std::nullopt;
  std::string text(escaped);
  curl_free(escaped);
  return text;
}

std::optional<std::string> build_form_body(CURL* easy, const config::ProviderConfig& config,
                                           const std::string& order_id) {
  const std::pair<const char*, const std::string*> fields[] = {
      {"api_id", &config.api_id.reveal()},
      {"api_key", &config.api_key.reveal()},
      {"secret_key", &config.secret_key.reveal()},
      {"id", &order_id},
  };
  std::string body;
  for (const auto& [name, value] : fields) {
    std::optional<std::string> escaped = escape(easy, *value);
    if (!escaped) return std::nullopt;
    if (!body.empty()) body += '&';
    body += name;
    body += '=';
    body += *escaped;
  }
  return body;
}

// Appends to the transfer's buffer. Returning less than offered makes
// libcurl abort with CURLE_WRITE_ERROR, which caps memory per request.
std::size_t append_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const std::size_t bytes = size * count;
  if (bytes > transfer->max_response_bytes - transfer->response.size()) {
    transfer->body_too_large = true;
    return 0;
  }
  transfer->response.append(data, bytes);
  return bytes;
}

long milliseconds(config::Duration duration) { return static_cast<long>(duration.count()); }

// Applies options in order and keeps the first failure.
class OptionSetter {
 public:
  explicit OptionSetter(CURL* easy) : easy_(easy) {}

  template <typename Value>
  void set(CURLoption option, Value value) {
    if (result_ == CURLE_OK) result_ = curl_easy_setopt(easy_, option, value);
  }

  CURLcode result() const { return result_; }

 private:
  CURL* easy_;
  CURLcode result_ = CURLE_OK;
};

void set_http_options(OptionSetter& options, Transfer& transfer,
                      const config::ProviderConfig& config, const std::string& url,
                      curl_slist* headers) {
  options.set(CURLOPT_URL, url.c_str());
  options.set(CURLOPT_PROTOCOLS_STR, "http,https");
  options.set(CURLOPT_FOLLOWLOCATION, 0L);
  options.set(CURLOPT_POST, 1L);
  options.set(CURLOPT_POSTFIELDSIZE, static_cast<long>(transfer.form_body.size()));
  options.set(CURLOPT_POSTFIELDS, transfer.form_body.c_str());
  options.set(CURLOPT_HTTPHEADER, headers);
  options.set(CURLOPT_USERAGENT, config.user_agent.c_str());
  // No Accept-Encoding: responses are a few hundred bytes, and the size cap
  // then counts the bytes that arrive rather than what they inflate to.
  options.set(CURLOPT_ACCEPT_ENCODING, static_cast<const char*>(nullptr));
  // No CURLOPT_PIPEWAIT: over HTTP/1.1 it delays every request until the
  // first response on a new connection arrives. HTTP/2 multiplexing still happens
  // on connections that already exist.
}

void set_limit_options(OptionSetter& options, const config::ProviderConfig& config) {
  options.set(CURLOPT_CONNECTTIMEOUT_MS, milliseconds(config.connect_timeout));
  options.set(CURLOPT_TIMEOUT_MS, milliseconds(config.request_timeout));
  // Rejects an announced Content-Length over the cap before reading it.
  options.set(CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(config.max_response_bytes));
  // Timeouts must not use SIGALRM: the daemon owns its signals.
  options.set(CURLOPT_NOSIGNAL, 1L);
}

void set_tls_options(OptionSetter& options, const config::ProviderConfig& config) {
  options.set(CURLOPT_SSL_VERIFYPEER, 1L);
  options.set(CURLOPT_SSL_VERIFYHOST, 2L);
  // CURLOPT_CAINFO replaces the default bundle file, but Debian 12's libcurl
  // (OpenSSL, built --with-ca-path=/etc/ssl/certs) still searches its default
  // CURLOPT_CAPATH, so the system CAs stay trusted next to this one.
  if (!config.ca_file.empty()) options.set(CURLOPT_CAINFO, config.ca_file.c_str());
}

void set_callback_options(OptionSetter& options, Transfer& transfer, const SocketHooks& hooks) {
  options.set(CURLOPT_PRIVATE, static_cast<void*>(&transfer));
  options.set(CURLOPT_WRITEFUNCTION, &append_body);
  options.set(CURLOPT_WRITEDATA, static_cast<void*>(&transfer));
  options.set(CURLOPT_ERRORBUFFER, transfer.error_buffer);
  options.set(CURLOPT_OPENSOCKETFUNCTION, hooks.open);
  options.set(CURLOPT_OPENSOCKETDATA, hooks.data);
  options.set(CURLOPT_CLOSESOCKETFUNCTION, hooks.close);
  options.set(CURLOPT_CLOSESOCKETDATA, hooks.data);
}

}  // namespace

std::string status_url(const std::string& base_url) {
  std::string url = base_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url + "/api/status";
}

std::error_code configure_request(Transfer& transfer, const config::ProviderConfig& config,
                                  const std::string& url, curl_slist* headers,
                                  const SocketHooks& hooks) {
  std::optional<std::string> body = build_form_body(transfer.easy, config, transfer.order_id);
  if (!body) return errc::http_transport;
  transfer.form_body = std::move(*body);
  transfer.max_response_bytes = config.max_response_bytes;

  OptionSetter options(transfer.easy);
  set_http_options(options, transfer, config, url, headers);
  set_limit_options(options, config);
  set_tls_options(options, config);
  set_callback_options(options, transfer, hooks);
  if (options.result() != CURLE_OK) return errc::http_transport;
  return {};
}

FetchResult make_result(Transfer& transfer, CURLcode code) {
  FetchResult result;
  result.latency = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - transfer.started);

  long http_status = 0;
  if (curl_easy_getinfo(transfer.easy, CURLINFO_RESPONSE_CODE, &http_status) == CURLE_OK) {
    result.http_status = http_status;
  }
  // libcurl parses both forms of Retry-After (seconds or an HTTP date) into
  // seconds from now. It reports 0 when the header is absent, unparsable or
  // already past.
  curl_off_t retry_after = 0;
  if (curl_easy_getinfo(transfer.easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
      retry_after > 0) {
    result.retry_after = std::chrono::seconds(retry_after);
  }

  if (transfer.body_too_large || code == CURLE_FILESIZE_EXCEEDED) {
    result.transport_error = errc::http_body_too_large;
  } else if (code == CURLE_OPERATION_TIMEDOUT) {
    result.transport_error = errc::http_timeout;
  } else if (code != CURLE_OK) {
    result.transport_error = errc::http_transport;
  } else {
    result.answer = parse_status_answer(transfer.response);
  }
  return result;
}

std::string curl_error_text(const Transfer& transfer, CURLcode code) {
  if (transfer.error_buffer[0] != '\0') return transfer.error_buffer;
  return curl_easy_strerror(code);
}

}  // namespace smm::provider::detail
