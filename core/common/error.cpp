#include "common/error.hpp"

namespace smm {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "smm"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::ok: return "success";
      case errc::redis_connect_failed: return "redis connect failed";
      case errc::redis_disconnected: return "redis connection lost";
      case errc::redis_timeout: return "redis command timed out";
      case errc::redis_reply_error: return "redis returned an error reply";
      case errc::redis_protocol: return "redis reply had an unexpected shape";
      case errc::pg_connect_failed: return "postgresql connect failed";
      case errc::pg_connection_lost: return "postgresql connection lost";
      case errc::pg_statement_failed: return "postgresql statement failed";
      case errc::pg_timeout: return "postgresql statement timed out";
      case errc::pg_schema: return "postgresql table or column not usable";
      case errc::http_transport: return "provider transport error";
      case errc::http_timeout: return "provider request timed out";
      case errc::http_status: return "provider returned an HTTP error status";
      case errc::http_body_too_large: return "provider response exceeded the size cap";
      case errc::shutting_down: return "shutting down";
    }
    return "unknown smm error";
  }
};

}  // namespace

const std::error_category& smm_category() noexcept {
  static const Category category;
  return category;
}

}  // namespace smm
