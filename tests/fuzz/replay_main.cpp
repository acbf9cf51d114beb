// tests/fuzz/replay_main.cpp: main() for fuzz targets built without libFuzzer.
//
// Usage: fuzz_<target> FILE_OR_DIRECTORY...
// Runs LLVMFuzzerTestOneInput once on every file named, and on every regular file under every
// directory named (recursively, in sorted order), the way `fuzz_<target> FILE...` does in a
// libFuzzer build. Each input is copied into a heap buffer of exactly its size, as libFuzzer does,
// so that a sanitizer build catches a read past its end. Exits 0 after the last input (a failing
// input aborts inside the target), 1 when the arguments name no input at all: an empty or missing
// corpus must not pass as a successful replay.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "fuzz_support.hpp"

namespace {

namespace fs = std::filesystem;

// The inputs `argument` names, sorted; a directory's regular files, recursively.
std::vector<fs::path> inputs_of(const fs::path& argument) {
  std::vector<fs::path> files;
  std::error_code error;
  if (fs::is_directory(argument, error)) {
    for (const auto& entry : fs::recursive_directory_iterator(argument))
      if (entry.is_regular_file()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
  } else if (fs::is_regular_file(argument, error)) {
    files.push_back(argument);
  }
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string self = argc > 0 ? fs::path(argv[0]).filename().string() : "fuzz";
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_DIRECTORY...\n", self.c_str());
    return 2;
  }
  std::size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    const auto files = inputs_of(argv[i]);
    if (files.empty()) std::fprintf(stderr, "%s: no input in '%s'\n", self.c_str(), argv[i]);
    for (const auto& file : files) {
      std::ifstream in(file, std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "%s: cannot open '%s'\n", self.c_str(), file.c_str());
        return 1;
      }
      const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                    std::istreambuf_iterator<char>());
      auto buffer = std::make_unique<std::uint8_t[]>(bytes.size());
      std::copy(bytes.begin(), bytes.end(), buffer.get());
      LLVMFuzzerTestOneInput(buffer.get(), bytes.size());
      ++replayed;
    }
  }
  if (replayed == 0) {
    std::fprintf(stderr, "%s: nothing replayed\n", self.c_str());
    return 1;
  }
  std::printf("%s: replayed %zu inputs, all passed\n", self.c_str(), replayed);
  return 0;
}
