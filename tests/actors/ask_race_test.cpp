// A handler's exception is shared: the asker's result holds it, and the turn
// that caught it reports it to the supervisor. Whichever thread drops the
// last reference frees it, inside libstdc++, whose reference count TSan
// cannot see. The asker must therefore never have to read the exception
// object itself to learn the error's code (result.hpp, handler_error).

#include <atomic>
#include <thread>

#include "test_util.hpp"

namespace troupe::test {
namespace {

struct refuse {};
// Fails with an actor_error of its own, as a handler does when an ask it
// made (or awaited) failed.
struct refuser : actor<refuser> {
  int on(refuse) { throw actor_error(actor_errc::overloaded, "refused by the handler"); }
};
struct refusing_coroutine : actor<refusing_coroutine> {
  task<int> on(refuse) {
    throw actor_error(actor_errc::overloaded, "refused by the coroutine");
    co_return 0;
  }
};

// The soak's pattern (troupe-soak's callers): ask from a plain thread, and
// take the error's code in an on_complete callback, often on an ask that the
// worker completed already while it is still handling the failure. In one
// CI run of soak_watchdog_names_a_hung_actor (not of this test, which did
// not reproduce it locally) TSan reported the worker's end of catch, which
// freed the exception, as racing with the callback's read of
// actor_error::code() inside result::error_code(). This test checks the
// codes such callbacks see on that path.
template <class A>
void ask_failing_handler_from_a_foreign_thread(actor_system& sys) {
  supervisor_options o;
  o.max_restarts = 1'000'000;
  o.backoff_initial = 0ms;
  o.backoff_max = 0ms;
  auto sup = sys.spawn_supervisor(o);
  auto ref = sup.spawn<A>();
  constexpr int asks = 300;
  std::atomic<int> overloaded{0}, other{0};
  for (int i = 0; i < asks; ++i) {
    auto f = ref.ask(refuse{}, 10s);
    while (!f.is_ready()) std::this_thread::yield();  // completed: on_complete runs here, now
    f.on_complete(
        [&](result<int> r) { (r.error_code() == actor_errc::overloaded ? overloaded : other).fetch_add(1); });
  }
  EXPECT_EQ(overloaded.load(), asks) << "every ask ends with the handler's own code";
  EXPECT_EQ(other.load(), 0);
}

TEST(AskRaceTest, AForeignCallbackTakesAPlainHandlersErrorCodeWithoutReadingItsException) {
  runtime rt(workers(2));
  actor_system sys(rt);
  ask_failing_handler_from_a_foreign_thread<refuser>(sys);
  sys.shutdown();
}

TEST(AskRaceTest, AForeignCallbackTakesACoroutineHandlersErrorCodeWithoutReadingItsException) {
  runtime rt(workers(2));
  actor_system sys(rt);
  ask_failing_handler_from_a_foreign_thread<refusing_coroutine>(sys);
  sys.shutdown();
}

}  // namespace
}  // namespace troupe::test
