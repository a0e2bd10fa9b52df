// The fuzz targets without libFuzzer: a main that feeds each file it is given
// (or every file in each directory it is given, in name order) to
// LLVMFuzzerTestOneInput once. The debug, asan and tsan builds link it, so
// their test runs replay every corpus (fuzz/corpus/<target>/), regression
// inputs included. Arguments that start with '-' are libFuzzer flags and
// are ignored, so one command line works for both.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

bool replay(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "replay: cannot read %s\n", file.c_str());
    return false;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A copy of exactly the file's size, so that ASan sees a read past its end.
  std::vector<std::uint8_t> exact(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(exact.data(), exact.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.starts_with("-")) continue;
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(arg)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg))
        if (entry.is_regular_file()) files.push_back(entry.path());
      std::sort(files.begin(), files.end());
    } else {
      files.emplace_back(arg);
    }
    for (const auto& f : files) {
      if (!replay(f)) return 1;
      ++replayed;
    }
  }
  std::printf("replay: %zu input(s), every one passed\n", replayed);
  // No input at all is a broken test (a misnamed corpus folder), not a pass.
  return replayed == 0 ? 1 : 0;
}
