// Runs a fuzz target's LLVMFuzzerTestOneInput on every file named on the
// command line, or in the folders named there, so the seed corpora run as
// ordinary tests in builds without libFuzzer. Exits 1 when no file is found.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::vector<std::filesystem::path> input_files(int argc, char** argv) {
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path path(argv[i]);
    if (!std::filesystem::is_directory(path)) {
      files.push_back(path);
      continue;
    }
    for (const auto& entry : std::filesystem::directory_iterator(path)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
  }
  return files;
}

void replay(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // An empty input still gets a valid pointer, as libFuzzer gives it.
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

int main(int argc, char** argv) {
  auto files = input_files(argc, argv);
  if (files.empty()) {
    std::cerr << "replay: no input files found in the arguments\n";
    return 1;
  }
  for (const auto& file : files) {
    std::cerr << "replay: " << file.string() << "\n";
    replay(file);
  }
  std::cout << "replay: " << files.size() << " inputs passed\n";
  return 0;
}
