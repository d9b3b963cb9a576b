#pragma once
// Parsing of the `redis.url` setting: redis://[[user]:password@]host[:port][/db].

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smm::queue::detail {

struct RedisEndpoint {
  std::string host;            // name, IPv4 or IPv6 literal (without brackets)
  std::uint16_t port = 6379;
  std::string username;        // empty = AUTH with the password only
  std::string password;        // empty = no AUTH
  int db = 0;

  // "host:port/db" for logs; never includes the credentials.
  std::string display() const;
};

// Parses a redis:// URL; user and password may be percent-encoded. Returns
// std::nullopt with `error` set to what is wrong on anything else (rediss://
// and unix sockets included, because hiredis 0.14 supports neither TLS nor
// our Asio adapter over a socket path).
std::optional<RedisEndpoint> parse_redis_url(std::string_view url, std::string* error);

}  // namespace smm::queue::detail
