// Must NOT compile: an actor without on(down) cannot monitor another (the
// notice would have nowhere to go).
#include "troupe/actors.hpp"

struct deaf : troupe::actor<deaf> {
  void on(int) {}
};

void monitor_it(troupe::actor_ref<deaf>& a, const troupe::actor_addr& b) { a.monitor(b); }
