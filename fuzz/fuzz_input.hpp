#pragma once
// What every fuzz target shares: a reader that turns the fuzzer's bytes into
// decisions, and FUZZ_CHECK, which reports a broken property and aborts (a
// crash to libFuzzer, a failed test to the replayer).
//
// The reader never fails: past the end of the input it yields zeros, so every
// input is a valid program of operations and a target stops when empty()
// says the input is used up.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

namespace troupe::fuzz {

class input {
 public:
  input(const std::uint8_t* data, std::size_t size) noexcept : p_(data), end_(data + size) {}

  bool empty() const noexcept { return p_ == end_; }
  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }

  std::uint8_t byte() noexcept { return p_ == end_ ? 0 : *p_++; }
  bool flag() noexcept { return byte() & 1; }

  // An unsigned integer from the next sizeof(T) bytes, little-endian.
  template <class T>
  T integral() noexcept {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v |= std::uint64_t{byte()} << (8 * i);
    return static_cast<T>(v);
  }

  // A value in [lo, hi], taking only as many bytes as the span needs.
  std::uint64_t range(std::uint64_t lo, std::uint64_t hi) noexcept {
    if (hi <= lo) return lo;
    const std::uint64_t span = hi - lo;
    std::uint64_t v = 0;
    for (std::uint64_t left = span; left != 0; left >>= 8) v = v << 8 | byte();
    return span == ~std::uint64_t{0} ? v : lo + v % (span + 1);
  }

  // The next n bytes (fewer at the end).
  std::span<const std::uint8_t> bytes(std::size_t n) noexcept {
    if (n > remaining()) n = remaining();
    std::span<const std::uint8_t> s(p_, n);
    p_ += n;
    return s;
  }
  std::span<const std::uint8_t> rest() noexcept { return bytes(remaining()); }
  std::string_view text(std::size_t n) noexcept {
    auto s = bytes(n);
    return {reinterpret_cast<const char*>(s.data()), s.size()};
  }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

[[noreturn]] inline void fail(const char* file, int line, const char* condition, const std::string& detail) {
  std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: %s\n", file, line, condition, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace troupe::fuzz

// FUZZ_CHECK(condition, detail): detail (a std::string expression) is built
// only when the condition fails.
#define FUZZ_CHECK(condition, detail)                                                 \
  do {                                                                                \
    if (!(condition)) ::troupe::fuzz::fail(__FILE__, __LINE__, #condition, (detail)); \
  } while (false)
