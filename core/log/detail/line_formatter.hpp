#pragma once
// The spdlog formatter behind every log line: text or JSON, with or
// without the journald priority prefix. See log.hpp for the line shapes.

#include <memory>

#include <spdlog/formatter.h>

namespace smm::log::detail {

enum class Format { text, json };

class LineFormatter final : public spdlog::formatter {
 public:
  LineFormatter(Format format, bool journald) : format_(format), journald_(journald) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;

 private:
  Format format_;
  bool journald_;
};

}  // namespace smm::log::detail
