#pragma once
// How actors stop and why.

#include <cstdint>
#include <exception>
#include <string>

namespace troupe {

enum class stop_mode : std::uint8_t {
  graceful,   // refuse new messages, handle every message already accepted, then stop
  immediate,  // refuse new messages, dead-letter the queued ones (reason `unprocessed`), stop
};

enum class exit_kind : std::uint8_t {
  normal,         // stopped gracefully (by itself or by stop())
  killed,         // stopped with stop_mode::immediate
  failed,         // a handler threw and nobody restarted it
  linked,         // a linked actor died abnormally and this one does not trap exits
  restart_limit,  // a supervisor exceeded its restart intensity
  shutdown,       // stopped by actor_system::shutdown()
};
const char* to_string(exit_kind k) noexcept;

struct exit_reason {
  exit_kind kind = exit_kind::normal;
  std::string message;           // human-readable detail (e.g. the exception's what())
  std::exception_ptr exception;  // the handler's exception, for `failed`
  // Abnormal exits propagate through links and count as failures.
  bool abnormal() const noexcept {
    return kind == exit_kind::failed || kind == exit_kind::linked || kind == exit_kind::restart_limit;
  }
};

}  // namespace troupe
