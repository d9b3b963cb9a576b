#include "sync/status_map.hpp"

namespace smm::sync {

StatusMap::StatusMap(std::map<std::string, std::string> words_to_local,
                     const std::vector<std::string>& final_statuses)
    : words_to_local_(std::move(words_to_local)),
      final_(final_statuses.begin(), final_statuses.end()) {}

std::optional<std::string> StatusMap::local_status(const std::string& normalized_word) const {
  auto found = words_to_local_.find(normalized_word);
  if (found == words_to_local_.end()) return std::nullopt;
  return found->second;
}

bool StatusMap::is_final(const std::string& local_status) const {
  return final_.count(local_status) > 0;
}

}  // namespace smm::sync
