#pragma once
// Errors the runtime reports. Every misuse of the API throws troupe::error
// with one of these codes and a message that names the call; nothing crashes
// or hangs on bad input.

#include <stdexcept>
#include <string>

namespace troupe {

enum class errc {
  invalid_argument,    // e.g. a zero worker count or a zero capacity
  runtime_stopped,     // spawn or schedule after shutdown() began
  not_in_fiber,        // a fiber-only call made from a thread outside the runtime
  already_joined,      // join() on a handle that was joined (or is empty)
  broken_promise,      // a promise destroyed without a value
  already_satisfied,   // set_value/set_exception twice on one promise
  cancelled,           // a blocked fiber unwound by shutdown
  timeout,             // a deadline passed
  deadline_passed,     // a deadline that was already in the past when given
  resource_exhausted,  // the system refused a resource (a thread, memory for a stack)
  would_deadlock,      // a call that could only return after its own caller finished
};

const char* to_string(errc code) noexcept;

class error : public std::runtime_error {
 public:
  error(errc code, const std::string& what) : std::runtime_error(what), code_(code) {}
  errc code() const noexcept { return code_; }

 private:
  errc code_;
};

}  // namespace troupe
