#include "queue/detail/reply.hpp"

#include <charconv>
#include <cmath>

#include <hiredis/hiredis.h>

namespace smm::queue::detail {
namespace {

Reply::Type type_of(int hiredis_type) {
  switch (hiredis_type) {
    case REDIS_REPLY_STRING: return Reply::Type::string;
    case REDIS_REPLY_ARRAY: return Reply::Type::array;
    case REDIS_REPLY_INTEGER: return Reply::Type::integer;
    case REDIS_REPLY_STATUS: return Reply::Type::status;
    case REDIS_REPLY_ERROR: return Reply::Type::error;
    default: return Reply::Type::nil;
  }
}

}  // namespace

// Recursion depth is bounded because the hiredis 0.14 reader rejects replies
// nested deeper than 7 levels.
Reply Reply::from_hiredis(const redisReply& reply) {
  Reply out;
  out.type = type_of(reply.type);
  switch (out.type) {
    case Type::string:
    case Type::status:
    case Type::error:
      if (reply.str != nullptr) out.str.assign(reply.str, reply.len);
      break;
    case Type::integer:
      out.integer = reply.integer;
      break;
    case Type::array:
      out.elements.reserve(reply.elements);
      for (std::size_t i = 0; i < reply.elements; ++i) {
        const redisReply* element = reply.element[i];
        out.elements.push_back(element != nullptr ? from_hiredis(*element) : Reply{});
      }
      break;
    case Type::nil:
      break;
  }
  return out;
}

Reply Reply::make_string(std::string text) {
  Reply out;
  out.type = Type::string;
  out.str = std::move(text);
  return out;
}

Reply Reply::make_integer(long long value) {
  Reply out;
  out.type = Type::integer;
  out.integer = value;
  return out;
}

Reply Reply::make_array(std::vector<Reply> elements) {
  Reply out;
  out.type = Type::array;
  out.elements = std::move(elements);
  return out;
}

std::optional<std::int64_t> as_int(const Reply& reply) {
  if (reply.type == Reply::Type::integer) return reply.integer;
  if (reply.type != Reply::Type::string || reply.str.empty()) return std::nullopt;

  std::int64_t value = 0;
  const char* end = reply.str.data() + reply.str.size();
  auto [ptr, ec] = std::from_chars(reply.str.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::optional<std::string> as_string(const Reply& reply) {
  if (reply.type != Reply::Type::string && reply.type != Reply::Type::status) return std::nullopt;
  return reply.str;
}

std::optional<std::int64_t> as_score_ms(const Reply& reply) {
  if (reply.type == Reply::Type::integer) return reply.integer;
  if (reply.type != Reply::Type::string || reply.str.empty()) return std::nullopt;

  double value = 0;
  const char* end = reply.str.data() + reply.str.size();
  auto [ptr, ec] = std::from_chars(reply.str.data(), end, value);
  if (ec != std::errc() || ptr != end || !std::isfinite(value)) return std::nullopt;

  // Scores are written by producers too; reject values an int64 cannot hold.
  constexpr double kLimit = 9.2e18;
  if (value > kLimit || value < -kLimit) return std::nullopt;
  return static_cast<std::int64_t>(std::floor(value));
}

const std::vector<Reply>* as_array(const Reply& reply, std::size_t size) {
  if (reply.type != Reply::Type::array || reply.elements.size() != size) return nullptr;
  return &reply.elements;
}

}  // namespace smm::queue::detail
