// Must NOT compile: a periodic timer sends a copy of its message on every
// tick, so a move-only message is refused.
#include <chrono>
#include <memory>

#include "troupe/actors.hpp"

struct tick {
  std::unique_ptr<int> p;
};
struct clocked : troupe::actor<clocked> {
  void on(tick) {}
};

void every(troupe::actor_ref<clocked>& a) { (void)a.send_periodic(tick{}, std::chrono::seconds(1)); }
