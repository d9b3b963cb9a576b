#include "provider/detail/request.hpp"

#include <cstdlib>
#include <initializer_list>

#include "common/error.hpp"

namespace smm::provider::detail {
namespace {

// Appends `value` percent-encoded to `out` (see form_encode).
void append_form_encoded(std::string& out, std::string_view value) {
  constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = (byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z') ||
                            (byte >= '0' && byte <= '9') || byte == '-' || byte == '.' ||
                            byte == '_' || byte == '~';
    if (unreserved) {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4U];
      out += kHex[byte & 0x0FU];
    }
  }
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

void set_http_options(OptionSetter& options, const std::string& url,
                      curl_slist* headers) {
  options.set(CURLOPT_URL, url.c_str());
  options.set(CURLOPT_PROTOCOLS_STR, "http,https");
  options.set(CURLOPT_FOLLOWLOCATION, 0L);
  options.set(CURLOPT_POST, 1L);
  options.set(CURLOPT_HTTPHEADER, headers);
  // No Accept-Encoding: responses are a few hundred bytes, and the size cap
  // then counts the bytes that arrive rather than what they inflate to.
  options.set(CURLOPT_ACCEPT_ENCODING, static_cast<const char*>(nullptr));
  // No CURLOPT_PIPEWAIT: over HTTP/1.1 it delays every request until the
  // first response on a new connection arrives. HTTP/2 multiplexing still happens
  // on connections that already exist.
}

// The first of `names` that is set in the environment, or "".
std::string first_env(std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (const char* value = std::getenv(name); value != nullptr && value[0] != '\0') return value;
  }
  return {};
}

// Sets the proxy from the environment once. Left unset, libcurl reads the
// same variables, in the same order, again for every transfer.
void set_proxy_options(OptionSetter& options, const std::string& url) {
  const bool https = url.rfind("https:", 0) == 0;
  // Like libcurl, only the lower-case http_proxy counts for plain HTTP.
  const std::string proxy = https ? first_env({"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"})
                                  : first_env({"http_proxy", "all_proxy", "ALL_PROXY"});
  const std::string no_proxy = first_env({"no_proxy", "NO_PROXY"});
  // "" means no proxy and no exceptions; libcurl copies both strings.
  options.set(CURLOPT_PROXY, proxy.c_str());
  options.set(CURLOPT_NOPROXY, no_proxy.c_str());
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

std::string user_agent_header(const std::string& user_agent) {
  if (user_agent.empty()) return "User-Agent:";
  return "User-Agent: " + user_agent;
}

std::string form_encode(std::string_view value) {
  std::string encoded;
  append_form_encoded(encoded, value);
  return encoded;
}

std::string form_prefix(const config::ProviderConfig& config) {
  return "api_id=" + form_encode(config.api_id.reveal()) +
         "&api_key=" + form_encode(config.api_key.reveal()) +
         "&secret_key=" + form_encode(config.secret_key.reveal()) + "&id=";
}

std::error_code configure_handle(Transfer& transfer, const config::ProviderConfig& config,
                                 const std::string& url, curl_slist* headers,
                                 const SocketHooks& hooks) {
  transfer.max_response_bytes = config.max_response_bytes;
  OptionSetter options(transfer.easy);
  set_http_options(options, url, headers);
  set_proxy_options(options, url);
  set_limit_options(options, config);
  set_tls_options(options, config);
  set_callback_options(options, transfer, hooks);
  return options.result() == CURLE_OK ? std::error_code{} : make_error_code(errc::http_transport);
}

std::error_code prepare_request(Transfer& transfer, std::string_view prefix,
                                const std::string& order_id) {
  transfer.order_id = order_id;
  transfer.form_body.assign(prefix);
  append_form_encoded(transfer.form_body, order_id);
  transfer.response.clear();
  transfer.body_too_large = false;
  transfer.error_buffer[0] = '\0';

  // POSTFIELDS keeps only the pointer, which moves when the body grows.
  OptionSetter options(transfer.easy);
  options.set(CURLOPT_POSTFIELDSIZE, static_cast<long>(transfer.form_body.size()));
  options.set(CURLOPT_POSTFIELDS, transfer.form_body.c_str());
  return options.result() == CURLE_OK ? std::error_code{} : make_error_code(errc::http_transport);
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
