#include "log/log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <regex>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "log/detail/line_formatter.hpp"
#include "support/support.hpp"

namespace smm::log {
namespace {

// Collects every formatted line in memory.
class CaptureSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string text() {
    std::lock_guard lock(mutex_);
    return text_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t line;
    formatter_->format(msg, line);
    text_.append(line.data(), line.size());
  }
  void flush_() override {}

 private:
  std::string text_;
};

std::shared_ptr<CaptureSink> capture(const std::string& level, const std::string& format, bool journald) {
  auto sink = std::make_shared<CaptureSink>();
  setup(config::LogConfig{level, format}, sink, journald);
  return sink;
}

// Formats one message logged at 2026-12-04T20:31:05.123Z.
std::string format_at_fixed_time(detail::Format format, bool journald, spdlog::level::level_enum level,
                                 std::string_view component, std::string_view payload) {
  using namespace std::chrono;
  const sys_days day = year{2026} / December / 4;
  const auto time = day + hours{20} + minutes{31} + seconds{5} + milliseconds{123};
  spdlog::details::log_msg msg(time_point_cast<spdlog::log_clock::duration>(time), spdlog::source_loc{},
                               spdlog::string_view_t(component.data(), component.size()), level,
                               spdlog::string_view_t(payload.data(), payload.size()));
  spdlog::memory_buf_t out;
  detail::LineFormatter(format, journald).format(msg, out);
  return std::string(out.data(), out.size());
}

TEST(LineFormatter, TextLineHasUtcTimestampLevelAndComponent) {
  EXPECT_EQ(format_at_fixed_time(detail::Format::text, false, spdlog::level::info, "queue",
                                 "redis_connected host=127.0.0.1 port=6379"),
            "2026-12-04T20:31:05.123Z info queue redis_connected host=127.0.0.1 port=6379\n");
  EXPECT_EQ(format_at_fixed_time(detail::Format::text, false, spdlog::level::warn, "store", "pg_slow"),
            "2026-12-04T20:31:05.123Z warn store pg_slow\n");
}

TEST(LineFormatter, JournaldLineHasPriorityAndNoTimestamp) {
  const auto line = [](spdlog::level::level_enum level) {
    return format_at_fixed_time(detail::Format::text, true, level, "queue", "redis_connected host=127.0.0.1");
  };
  EXPECT_EQ(line(spdlog::level::info), "<6>queue redis_connected host=127.0.0.1\n");
  EXPECT_EQ(line(spdlog::level::trace), "<7>queue redis_connected host=127.0.0.1\n");
  EXPECT_EQ(line(spdlog::level::debug), "<7>queue redis_connected host=127.0.0.1\n");
  EXPECT_EQ(line(spdlog::level::warn), "<4>queue redis_connected host=127.0.0.1\n");
  EXPECT_EQ(line(spdlog::level::err), "<3>queue redis_connected host=127.0.0.1\n");
  EXPECT_EQ(line(spdlog::level::critical), "<2>queue redis_connected host=127.0.0.1\n");
}

TEST(LineFormatter, TextEscapesLineBreaks) {
  EXPECT_EQ(format_at_fixed_time(detail::Format::text, true, spdlog::level::warn, "provider",
                                 "rejected msg=\"line one\nline two\r\x01\""),
            "<4>provider rejected msg=\"line one\\nline two\\r\\x01\"\n");
}

TEST(LineFormatter, JsonLineHasEveryField) {
  EXPECT_EQ(format_at_fixed_time(detail::Format::json, false, spdlog::level::err, "store",
                                 "pg_write_failed rows=3"),
            "{\"ts\":\"2026-12-04T20:31:05.123Z\",\"level\":\"error\",\"component\":\"store\","
            "\"event\":\"pg_write_failed\",\"msg\":\"pg_write_failed rows=3\"}\n");
}

TEST(LineFormatter, JsonUnderJournaldHasPriorityAndNoTimestamp) {
  EXPECT_EQ(format_at_fixed_time(detail::Format::json, true, spdlog::level::info, "sync", "started"),
            "<6>{\"level\":\"info\",\"component\":\"sync\",\"event\":\"started\",\"msg\":\"started\"}\n");
}

TEST(LineFormatter, JsonEscapesQuotesControlsAndInvalidUtf8) {
  const std::string payload = "rejected msg=\"a\\b\"\n\t\x01 caf\xc3\xa9 bad\xff\xc3 end";
  const auto line = format_at_fixed_time(detail::Format::json, false, spdlog::level::warn, "provider", payload);
  EXPECT_NE(line.find("\"event\":\"rejected\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"msg\":\"rejected msg=\\\"a\\\\b\\\"\\n\\t\\u0001 caf\xc3\xa9 bad\\ufffd\\ufffd end\"}"),
            std::string::npos)
      << line;
}

TEST(LineFormatter, JsonRejectsOverlongAndSurrogateUtf8) {
  // 0xC0 0xAF is an overlong '/', 0xED 0xA0 0x80 a UTF-16 surrogate.
  const auto line = format_at_fixed_time(detail::Format::json, false, spdlog::level::info, "x",
                                         "e \xc0\xaf \xed\xa0\x80 \xf0\x9f\x98\x80");
  EXPECT_NE(line.find("\"msg\":\"e \\ufffd\\ufffd \\ufffd\\ufffd\\ufffd \xf0\x9f\x98\x80\""), std::string::npos)
      << line;
}

TEST(Log, ComponentLoggerWritesTextToTheSink) {
  auto sink = capture("info", "text", false);
  get("queue")->info("redis_connected host={} port={}", "127.0.0.1", 6379);
  const std::regex expected(
      R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info queue redis_connected host=127\.0\.0\.1 port=6379\n)");
  EXPECT_TRUE(std::regex_match(sink->text(), expected)) << sink->text();
}

TEST(Log, JournaldSetupWritesPriorityPrefix) {
  auto sink = capture("info", "text", true);
  get("queue")->warn("redis_disconnected retry_in_ms={}", 100);
  EXPECT_EQ(sink->text(), "<4>queue redis_disconnected retry_in_ms=100\n");
}

TEST(Log, JsonSetupWritesOneObjectPerLine) {
  auto sink = capture("info", "json", true);
  get("store")->info("pg_connected");
  get("store")->error("pg_lost error=\"{}\"", "eof");
  EXPECT_EQ(sink->text(),
            "<6>{\"level\":\"info\",\"component\":\"store\",\"event\":\"pg_connected\",\"msg\":\"pg_connected\"}\n"
            "<3>{\"level\":\"error\",\"component\":\"store\",\"event\":\"pg_lost\",\"msg\":\"pg_lost "
            "error=\\\"eof\\\"\"}\n");
}

TEST(Log, LevelFiltersLowerLevels) {
  auto sink = capture("warn", "text", true);
  get("sync")->info("order_polled id=1");
  get("sync")->debug("order_polled id=2");
  get("sync")->warn("order_unknown_status id=3");
  EXPECT_EQ(sink->text(), "<4>sync order_unknown_status id=3\n");
}

TEST(Log, DebugLevelLetsDebugThrough) {
  auto sink = capture("debug", "text", true);
  get("sync")->debug("order_polled id=2");
  get("sync")->trace("order_trace id=2");
  EXPECT_EQ(sink->text(), "<7>sync order_polled id=2\n");
}

TEST(Log, SetupMovesEarlierLoggersToTheNewSink) {
  auto early = get("health");
  auto sink = capture("info", "text", true);
  early->info("listening port=9580");
  EXPECT_EQ(sink->text(), "<6>health listening port=9580\n");
  EXPECT_EQ(get("health"), early);
}

TEST(Log, DefaultLoggerIsTheDaemonComponent) {
  auto sink = capture("info", "text", true);
  spdlog::info("started version={}", "0.1.0");
  EXPECT_EQ(sink->text(), "<6>daemon started version=0.1.0\n");
}

TEST(JournalStream, MatchesTheDeviceAndInodeOfTheDescriptor) {
  smm::test::TempDir dir;
  dir.write("stream", "");
  const int fd = ::open(dir.file("stream").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  struct stat info {};
  ASSERT_EQ(fstat(fd, &info), 0);
  const auto device = static_cast<unsigned long long>(info.st_dev);
  const auto inode = static_cast<unsigned long long>(info.st_ino);

  EXPECT_TRUE(is_journal_stream(fmt::format("{}:{}", device, inode).c_str(), fd));
  EXPECT_FALSE(is_journal_stream(fmt::format("{}:{}", device, inode + 1).c_str(), fd));
  EXPECT_FALSE(is_journal_stream(fmt::format("{}:{}", device + 1, inode).c_str(), fd));
  EXPECT_FALSE(is_journal_stream(fmt::format("{}:{}x", device, inode).c_str(), fd));
  EXPECT_FALSE(is_journal_stream(fmt::format("{}", inode).c_str(), fd));
  EXPECT_FALSE(is_journal_stream("", fd));
  EXPECT_FALSE(is_journal_stream(nullptr, fd));
  ::close(fd);
}

}  // namespace
}  // namespace smm::log
