// Asks and their completion: a completed ask gives back its memory and its
// deadline timer at once, however long its deadline.

#include <atomic>
#include <string>
#include <thread>

#include "test_util.hpp"

namespace troupe::test {
namespace {

// result<T> reads through a const reference (as a callback taking
// `const result<T>&` does) and moves its value out of an rvalue.
TEST(ResultTest, ConstAndRvalueAccessReadTheValueOrRethrow) {
  const result<std::string> ok(std::string("reply"));
  EXPECT_EQ(*ok, "reply");
  EXPECT_EQ(ok->size(), 5u);
  result<std::string> movable(std::string("moved"));
  const std::string taken = *std::move(movable);
  EXPECT_EQ(taken, "moved");
  const result<std::string> failed(actor_errc::timeout,
                                   std::make_exception_ptr(actor_error(actor_errc::timeout, "late")));
  EXPECT_THROW((void)*failed, actor_error);
  EXPECT_THROW((void)failed->size(), actor_error);
  EXPECT_EQ(failed.error_code(), actor_errc::timeout);
}

struct echo_it {
  int v;
};
struct echo : actor<echo> {
  int on(echo_it e) { return e.v; }
};

std::uint64_t timers_pending(const runtime& rt) { return rt.metrics().total().timers_pending; }

TEST(AskMemoryTest, FiveHundredThousandCompletedAsksWithALongDeadlineHoldNothing) {
  // Each ask registers a callback, so each arms a 30 s deadline timer; the
  // reply cancels it. They used to stay armed (and hold their ask's
  // memory: 121 MiB for these 500,000) until their deadline passed.
  runtime rt(workers(2));
  actor_system sys(rt);
  auto e = sys.spawn<echo>(spawn_options{.capacity = 100'000});
  constexpr int total = 500'000, window = 5'000;
  std::atomic<int> done{0};
  std::atomic<long> sum{0};
  auto issue = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      while (i - done.load(std::memory_order_relaxed) >= window) std::this_thread::yield();
      e.ask(echo_it{1}, 30s).on_complete([&](result<int> r) {
        if (r) sum.fetch_add(*r, std::memory_order_relaxed);
        done.fetch_add(1, std::memory_order_relaxed);
      });
    }
  };
  issue(0, 50'000);  // warm up the caches
  ASSERT_TRUE(eventually([&] { return done.load() == 50'000; }, 60s));
  const std::size_t rss_warm = rss_bytes();
  issue(50'000, total);
  ASSERT_TRUE(eventually([&] { return done.load() == total; }, 120s));
  const std::size_t rss_done = rss_bytes();
  EXPECT_EQ(sum.load(), total) << "every reply counted once";
  EXPECT_EQ(timers_pending(rt), 0u) << "every deadline timer was cancelled by its reply";
  const double grew_mib = (static_cast<double>(rss_done) - static_cast<double>(rss_warm)) / (1 << 20);
  std::printf("RSS after 450,000 more completed asks: %+.1f MiB\n", grew_mib);
  RecordProperty("rss_growth_mib", std::to_string(grew_mib));
  if (!sanitized) {
    EXPECT_LT(grew_mib, 16.0);
  }
  sys.shutdown();
}

}  // namespace
}  // namespace troupe::test
