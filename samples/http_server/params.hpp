#pragma once
// The text the http_server sample parses itself, apart from Boost.Beast's
// HTTP parsing: its command line, a request target's path and query, and
// the one query parameter its routes take. Header-only and free of Beast, so
// fuzz/http_params_fuzz.cpp drives it with any bytes.

#include <charconv>
#include <chrono>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>

struct config {
  unsigned short port = 8080;
  std::chrono::milliseconds deadline{100};
};

// "[--port N] [--deadline-ms N]" (N decimal; port <= 65535, deadline > 0);
// nullopt for anything else.
inline std::optional<config> parse_command_line(int argc, char** argv) {
  config c;
  for (int i = 1; i + 1 < argc; i += 2) {
    unsigned v = 0;
    const char* s = argv[i + 1];
    auto [end, ec] = std::from_chars(s, s + std::strlen(s), v);
    if (ec != std::errc{} || *end != '\0') return std::nullopt;
    if (std::string_view(argv[i]) == "--port" && v <= 65535)
      c.port = static_cast<unsigned short>(v);
    else if (std::string_view(argv[i]) == "--deadline-ms" && v > 0)
      c.deadline = std::chrono::milliseconds(v);
    else
      return std::nullopt;
  }
  if (argc % 2 == 0) return std::nullopt;  // an option without its value
  return c;
}

// A request target "/path?query" as its path and query (empty if there is
// no '?'); both view `target`.
inline std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  const std::string_view query = path.size() < target.size() ? target.substr(path.size() + 1) : "";
  return {path, query};
}

// The `ms` parameter of a query such as "ms=250", the only one the routes
// take; nullopt if the query is malformed.
inline std::optional<std::chrono::milliseconds> ms_param(std::string_view query,
                                                         std::chrono::milliseconds fallback) {
  if (query.empty()) return fallback;
  if (!query.starts_with("ms=")) return std::nullopt;
  query.remove_prefix(3);
  unsigned ms = 0;
  auto [end, ec] = std::from_chars(query.data(), query.data() + query.size(), ms);
  if (ec != std::errc{} || end != query.data() + query.size() || ms > 60'000) return std::nullopt;
  return std::chrono::milliseconds(ms);
}
