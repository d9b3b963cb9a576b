#pragma once
// A Redis reply copied out of hiredis, so it can outlive the hiredis
// callback, plus checked accessors: every reply shape is verified before use
// and a mismatch is reported as std::nullopt, never asserted.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct redisReply;

namespace smm::queue::detail {

struct Reply {
  enum class Type { nil, string, status, error, integer, array };

  Type type = Type::nil;
  std::string str;               // string, status and error replies
  long long integer = 0;
  std::vector<Reply> elements;   // array replies

  static Reply from_hiredis(const redisReply& reply);
  static Reply make_string(std::string text);
  static Reply make_integer(long long value);
  static Reply make_array(std::vector<Reply> elements);

  bool is_error() const { return type == Type::error; }
};

// An integer reply, or a bulk string holding a decimal integer (Lua returns
// both, depending on how a value was produced).
std::optional<std::int64_t> as_int(const Reply& reply);

// A bulk string or status reply.
std::optional<std::string> as_string(const Reply& reply);

// A score as ZRANGE WITHSCORES returns it, in whole milliseconds; nullopt on
// anything that is not a finite number.
std::optional<std::int64_t> as_score_ms(const Reply& reply);

// The elements of an array reply of exactly `size` elements, or nullptr.
const std::vector<Reply>* as_array(const Reply& reply, std::size_t size);

}  // namespace smm::queue::detail
