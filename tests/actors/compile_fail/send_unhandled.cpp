// Must NOT compile: an actor has no handler for int, so sending one is
// refused at compile time (the `handles` concept), not at run time.
#include "troupe/actors.hpp"

struct greeter : troupe::actor<greeter> {
  void on(const char*) {}
};

void send_it(troupe::actor_ref<greeter>& g) { (void)g.send(42); }
