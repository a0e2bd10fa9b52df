#include "tracer.hpp"

#include <chrono>
#include <cstdio>
#include <fmt/format.h>
#include <memory>
#include <set>

namespace troupe::detail {

tracer::tracer(std::size_t workers, std::size_t capacity) : start_ns_(now_ns()), foreign_(capacity) {
  workers_.reserve(workers);
  for (std::size_t i = 0; i < workers; ++i) workers_.push_back(std::make_unique<trace_buffer>(capacity));
}

// Traces show real time, whatever the runtime's clock: a virtual clock would
// put every slice at the same instant.
std::uint64_t tracer::now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

void tracer::foreign(const trace_event& e) noexcept {
  std::lock_guard g(foreign_mutex_);
  foreign_.add(e);
}

const char* intern_trace_name(std::string_view name) noexcept {
  try {
    // Leaked, and node-based: the strings never move or go while the process runs.
    static auto* m = new std::mutex;
    static auto* names = new std::set<std::string, std::less<>>;
    std::lock_guard g(*m);
    auto it = names->find(name);
    if (it == names->end()) it = names->emplace(name).first;
    return it->c_str();
  } catch (...) {
    return nullptr;
  }
}

std::size_t tracer::dropped() const noexcept {
  std::size_t n = foreign_.dropped();
  for (const auto& w : workers_) n += w->dropped();
  return n;
}

namespace {

// JSON string contents: names are class and message names, but escape anyway.
std::string escaped(const char* s) {
  std::string out;
  for (; *s; ++s) {
    const char c = *s;
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::size_t tracer::write(const std::string& path) const {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "w"), &std::fclose);
  if (!f) return static_cast<std::size_t>(-1);
  std::size_t written = 0;
  bool first = true;
  auto emit = [&](const std::string& line) {
    std::fputs(first ? "\n" : ",\n", f.get());
    std::fputs(line.c_str(), f.get());
    first = false;
  };
  std::fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", f.get());
  const std::size_t foreign_tid = workers_.size();
  for (std::size_t t = 0; t <= foreign_tid; ++t)
    emit(fmt::format(R"({{"name":"thread_name","ph":"M","pid":1,"tid":{},"args":{{"name":"{}"}}}})", t,
                     t == foreign_tid ? std::string("outside the runtime") : fmt::format("worker {}", t)));
  auto us = [this](std::uint64_t ns) { return static_cast<double>(ns - start_ns_) / 1000.0; };
  auto emit_buffer = [&](const trace_buffer& b, std::size_t tid) {
    const std::size_t n = b.used();
    for (std::size_t i = 0; i < n; ++i) {
      const trace_event& e = b.at(i);
      if (e.ts < start_ns_) continue;
      const std::string name = escaped(e.name ? e.name : "?");
      switch (e.phase) {
        case 'X':
          emit(fmt::format(
              R"({{"name":"{}","cat":"troupe","ph":"X","ts":{:.3f},"dur":{:.3f},"pid":1,"tid":{}}})", name,
              us(e.ts), static_cast<double>(e.arg) / 1000.0, tid));
          break;
        case 'i':
          emit(fmt::format(R"({{"name":"{}","cat":"troupe","ph":"i","s":"t","ts":{:.3f},"pid":1,"tid":{}}})",
                           name, us(e.ts), tid));
          break;
        case 's':
          emit(fmt::format(R"({{"name":"{}","cat":"ask","ph":"s","id":{},"ts":{:.3f},"pid":1,"tid":{}}})",
                           name, e.arg, us(e.ts), tid));
          break;
        case 'f':
          emit(fmt::format(
              R"({{"name":"{}","cat":"ask","ph":"f","bp":"e","id":{},"ts":{:.3f},"pid":1,"tid":{}}})", name,
              e.arg, us(e.ts), tid));
          break;
        default:
          continue;
      }
      ++written;
    }
  };
  for (std::size_t t = 0; t < workers_.size(); ++t) emit_buffer(*workers_[t], t);
  {
    std::lock_guard g(foreign_mutex_);
    emit_buffer(foreign_, foreign_tid);
  }
  std::fprintf(f.get(), "\n],\"otherData\":{\"dropped_events\":%zu}}\n", dropped());
  if (std::fflush(f.get()) != 0) return static_cast<std::size_t>(-1);
  return written;
}

}  // namespace troupe::detail
