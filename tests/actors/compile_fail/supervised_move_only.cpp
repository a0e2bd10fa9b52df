// Must NOT compile: a supervised actor is rebuilt from copies of its
// constructor arguments, so a move-only argument is refused with a clear
// static_assert (compile_fail.cmake checks the message), not an error deep
// inside the supervisor's factory.
#include <memory>

#include "troupe/actors.hpp"

struct owner : troupe::actor<owner> {
  explicit owner(std::unique_ptr<int> p) : value(std::move(p)) {}
  std::unique_ptr<int> value;
  void on(int) {}
};

void spawn_it(troupe::supervisor_ref& sup) { (void)sup.spawn<owner>(std::make_unique<int>(1)); }
