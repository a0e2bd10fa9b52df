// Must NOT compile: asking an actor with a message it has no handler for.
#include <chrono>

#include "troupe/actors.hpp"

struct greeter : troupe::actor<greeter> {
  int on(const char*) { return 0; }
};

void ask_it(troupe::actor_ref<greeter>& g) { (void)g.ask(42, std::chrono::seconds(1)); }
