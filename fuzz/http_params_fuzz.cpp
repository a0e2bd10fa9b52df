// The text the http_server sample parses itself
// (samples/http_server/params.hpp): its command line, a request target's
// path and query, and the `ms` query parameter, on arbitrary bytes.
//
// Checked: the command line is accepted exactly when it is pairs of
// "--port N" (N <= 65535) / "--deadline-ms N" (N > 0), N all decimal digits
// that fit an unsigned, and the config holds the last value of each;
// split_target gives back the target (path, '?', query) with no '?' in the
// path; ms_param accepts only an empty query (the fallback) or "ms=" and
// digits up to 60000, and returns that value.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.hpp"
#include "params.hpp"

namespace {

// All decimal digits, and a value that fits `unsigned`.
std::optional<unsigned> decimal(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
    if (v > std::numeric_limits<unsigned>::max()) return std::nullopt;
  }
  return static_cast<unsigned>(v);
}

void check_command_line(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  const auto got = parse_command_line(static_cast<int>(argv.size()), argv.data());

  std::optional<config> want = config{};
  if (args.size() % 2 == 0) want.reset();  // an option without its value
  for (std::size_t i = 1; want && i + 1 < args.size(); i += 2) {
    const auto v = decimal(args[i + 1]);
    if (v && args[i] == "--port" && *v <= 65535)
      want->port = static_cast<unsigned short>(*v);
    else if (v && args[i] == "--deadline-ms" && *v > 0)
      want->deadline = std::chrono::milliseconds(*v);
    else
      want.reset();
  }
  FUZZ_CHECK(got.has_value() == want.has_value(),
             "the command line was " + std::string(got ? "accepted" : "refused"));
  if (got) {
    FUZZ_CHECK(got->port == want->port,
               "port " + std::to_string(got->port) + ", want " + std::to_string(want->port));
    FUZZ_CHECK(got->deadline == want->deadline, "deadline disagrees");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  troupe::fuzz::input in(data, size);
  const std::string_view text = in.text(in.remaining());
  // Lines: the first a request target; the rest a command line (arguments
  // without NULs, as an argv holds them).
  const std::size_t nl = std::min(text.find('\n'), text.size());
  const std::string_view target = text.substr(0, nl);

  const auto [path, query] = split_target(target);
  FUZZ_CHECK(path.find('?') == std::string_view::npos, "the path holds a '?'");
  const std::string joined =
      path.size() == target.size() ? std::string(path) : std::string(path) + "?" + std::string(query);
  FUZZ_CHECK(joined == target, "path and query do not make up the target");

  const auto fallback = std::chrono::milliseconds(123);
  const auto ms = ms_param(query, fallback);
  if (query.empty()) {
    FUZZ_CHECK(ms == fallback, "an empty query did not give the fallback");
  } else {
    const auto v = query.starts_with("ms=") ? decimal(query.substr(3)) : std::nullopt;
    const bool valid = v && *v <= 60'000;
    FUZZ_CHECK(ms.has_value() == valid,
               "ms_param " + std::string(ms ? "accepted" : "refused") + " '" + std::string(query) + "'");
    if (ms) FUZZ_CHECK(ms->count() == *v, "ms_param returned another value");
  }

  std::vector<std::string> args{"http_server"};
  for (std::size_t start = nl + 1; start <= text.size() && args.size() < 16;) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    std::string arg(text.substr(start, end - start));
    arg.erase(std::remove(arg.begin(), arg.end(), '\0'), arg.end());
    args.push_back(std::move(arg));
    start = end + 1;
  }
  if (nl < text.size()) check_command_line(args);
  return 0;
}
