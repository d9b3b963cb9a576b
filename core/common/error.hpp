#pragma once
// Error codes shared by the I/O components. Each C library's own codes
// (curl, hiredis, libpq) are turned into one of these at the component
// boundary, so callers branch on a small, stable set.

#include <string>
#include <system_error>

namespace smm {

enum class errc {
  ok = 0,
  // Redis
  redis_connect_failed = 1,
  redis_disconnected,
  redis_timeout,
  redis_reply_error,
  redis_protocol,
  // PostgreSQL
  pg_connect_failed = 20,
  pg_connection_lost,
  pg_statement_failed,
  pg_timeout,
  pg_schema,
  // Provider HTTP
  http_transport = 40,
  http_timeout,
  http_status,
  http_body_too_large,
  // Lifecycle
  shutting_down = 60,
};

const std::error_category& smm_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), smm_category()};
}

}  // namespace smm

template <>
struct std::is_error_code_enum<smm::errc> : std::true_type {};
