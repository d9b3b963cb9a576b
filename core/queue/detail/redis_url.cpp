#include "queue/detail/redis_url.hpp"

#include <charconv>

namespace smm::queue::detail {
namespace {

constexpr std::string_view kScheme = "redis://";

bool fail(std::string* error, const char* text) {
  if (error != nullptr) *error = text;
  return false;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    int high = hex_value(text[i + 1]);
    int low = hex_value(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

template <typename T>
bool parse_number(std::string_view text, T* value) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return ec == std::errc() && end == text.data() + text.size();
}

bool parse_userinfo(std::string_view userinfo, RedisEndpoint* endpoint, std::string* error) {
  auto colon = userinfo.find(':');
  if (colon == std::string_view::npos) {
    return fail(error, "credentials must be written ':password@' or 'user:password@'");
  }
  auto user = percent_decode(userinfo.substr(0, colon));
  auto password = percent_decode(userinfo.substr(colon + 1));
  if (!user || !password) return fail(error, "invalid percent-encoding in the credentials");
  endpoint->username = std::move(*user);
  endpoint->password = std::move(*password);
  return true;
}

bool parse_host_port(std::string_view hostport, RedisEndpoint* endpoint, std::string* error) {
  std::string_view port_text;
  if (!hostport.empty() && hostport.front() == '[') {
    auto close = hostport.find(']');
    if (close == std::string_view::npos) return fail(error, "unclosed '[' in the IPv6 host");
    endpoint->host = std::string(hostport.substr(1, close - 1));
    std::string_view rest = hostport.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return fail(error, "unexpected text after the IPv6 host");
    if (!rest.empty()) port_text = rest.substr(1);
    if (rest.size() == 1) return fail(error, "empty port");
  } else {
    auto colon = hostport.find(':');
    endpoint->host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = hostport.substr(colon + 1);
      if (port_text.empty()) return fail(error, "empty port");
    }
  }
  if (endpoint->host.empty()) return fail(error, "missing host");

  if (!port_text.empty()) {
    std::uint16_t port = 0;
    if (!parse_number(port_text, &port) || port == 0) return fail(error, "port must be 1-65535");
    endpoint->port = port;
  }
  return true;
}

bool parse_db(std::string_view path, RedisEndpoint* endpoint, std::string* error) {
  if (path.empty() || path == "/") return true;
  int db = 0;
  if (!parse_number(path.substr(1), &db) || db < 0) {
    return fail(error, "database must be a non-negative number after '/'");
  }
  endpoint->db = db;
  return true;
}

}  // namespace

std::string RedisEndpoint::display() const {
  bool ipv6 = host.find(':') != std::string::npos;
  std::string shown = ipv6 ? "[" + host + "]" : host;
  return shown + ":" + std::to_string(port) + "/" + std::to_string(db);
}

std::optional<RedisEndpoint> parse_redis_url(std::string_view url, std::string* error) {
  if (url.substr(0, kScheme.size()) != kScheme) {
    fail(error, "URL must start with redis:// (TLS and unix sockets are not supported)");
    return std::nullopt;
  }
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) {
    fail(error, "query strings and fragments are not supported");
    return std::nullopt;
  }

  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);

  RedisEndpoint endpoint;
  auto at = authority.rfind('@');
  if (at != std::string_view::npos && !parse_userinfo(authority.substr(0, at), &endpoint, error)) {
    return std::nullopt;
  }
  std::string_view hostport = at == std::string_view::npos ? authority : authority.substr(at + 1);
  if (!parse_host_port(hostport, &endpoint, error) || !parse_db(path, &endpoint, error)) {
    return std::nullopt;
  }
  return endpoint;
}

}  // namespace smm::queue::detail
