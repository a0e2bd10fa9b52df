// hello_actors: spawn, send, ask, and a supervised crash.
#include <cstdio>
#include <stdexcept>
#include <troupe/troupe.hpp>

using namespace std::chrono_literals;

struct greet {
  const char* who;
};
struct count {};
struct crash {};

struct greeter : troupe::actor<greeter> {
  int greeted = 0;  // state: only this actor's turn touches it, no locks
  void on(greet g) {
    std::printf("hello, %s\n", g.who);
    ++greeted;
  }
  int on(count) { return greeted; }  // a return value is the reply to an ask
  void on(crash) { throw std::runtime_error("oops"); }
};

int main() {
  troupe::runtime rt;               // one worker per core
  troupe::actor_system system(rt);  // destroyed first: stops actors, then the runtime

  auto sup = system.spawn_supervisor({.strategy = troupe::restart_strategy::one_for_one});
  troupe::actor_ref<greeter> g = sup.spawn<greeter>();

  g.send(greet{"world"});                                         // fire and forget
  std::printf("greeted %d time(s)\n", g.ask(count{}, 1s).get());  // request/response

  g.send(crash{});         // the handler throws: the supervisor restarts it
  g.send(greet{"again"});  // same ref, fresh actor, mailbox kept
  int n = g.ask(count{}, 1s).get();
  std::printf("after restart: %d, restarts: %llu\n", n, static_cast<unsigned long long>(g.stats().restarts));
  // g.send(42);                       // would not compile: greeter has no on(int)
}
