// Fuzz target for smm::provider::parse_status_answer: any bytes as a
// provider response body. Beyond not crashing, each result kind keeps the
// promises of status_parser.hpp.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "provider/status_parser.hpp"

namespace {

using smm::fuzz::require;
namespace provider = smm::provider;

void check_report(const provider::StatusReport& report) {
  require(!report.status_word.empty(), "a status report has a status word");
  require(provider::normalize_status_word(report.status_word) == report.status_word,
          "a status report's word is already normalised");
}

void check_malformed(const provider::MalformedAnswer& answer) {
  require(!answer.reason.empty(), "a malformed answer names its reason");
  require(answer.snippet.size() <= provider::kSnippetBytes, "a snippet is at most kSnippetBytes");
  for (char c : answer.snippet) {
    auto byte = static_cast<unsigned char>(c);
    require(byte >= 0x20U && byte != 0x7FU, "a snippet has no control bytes");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  provider::ParseResult result = provider::parse_status_answer(body);

  if (const auto* report = std::get_if<provider::StatusReport>(&result)) check_report(*report);
  if (const auto* rejection = std::get_if<provider::Rejection>(&result)) {
    require(!rejection->message.empty(), "a rejection carries a message");
  }
  if (const auto* answer = std::get_if<provider::MalformedAnswer>(&result)) check_malformed(*answer);

  require(provider::parse_status_answer(body).index() == result.index(),
          "parsing the same body twice gives the same kind of result");
  return 0;
}
