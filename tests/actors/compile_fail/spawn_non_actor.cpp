// Must NOT compile: only classes deriving from troupe::actor<A> can be
// spawned.
#include "troupe/actors.hpp"

struct plain {
  void on(int) {}
};

void spawn_it(troupe::actor_system& sys) { (void)sys.spawn<plain>(); }
