#pragma once
// Maps normalised provider status words to the panel's local status values
// and knows which local values are final.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace smm::sync {

class StatusMap {
 public:
  StatusMap(std::map<std::string, std::string> words_to_local,
            const std::vector<std::string>& final_statuses);

  // `normalized_word` as produced by provider::normalize_status_word.
  // Returns nullopt for a word not in the map.
  std::optional<std::string> local_status(const std::string& normalized_word) const;
  bool is_final(const std::string& local_status) const;

 private:
  std::map<std::string, std::string> words_to_local_;
  std::set<std::string> final_;
};

}  // namespace smm::sync
