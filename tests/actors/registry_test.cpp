// The registry of named actors.

#include <thread>
#include <vector>

#include "test_util.hpp"

namespace troupe::test {
namespace {

struct get {};
struct alpha : actor<alpha> {
  int on(get) { return 1; }
};
struct beta : actor<beta> {
  int on(get) { return 2; }
};

class RegistryTest : public WorkersTest {};
INSTANTIATE_TEST_SUITE_P(Workers, RegistryTest, ::testing::Values(1, 2), worker_name);

TEST_P(RegistryTest, RegisterFindAndTypeCheck) {
  auto a = sys.spawn<alpha>();
  auto b = sys.spawn<beta>();
  EXPECT_TRUE(sys.register_name("a", a));
  EXPECT_FALSE(sys.register_name("a", b));  // taken
  EXPECT_TRUE(sys.register_name("b", b));
  EXPECT_TRUE(sys.whereis("a") == a);
  auto found = sys.find<alpha>("a");
  ASSERT_TRUE(found);
  EXPECT_EQ(found.ask(get{}, 10s).get(), 1);
  EXPECT_FALSE(sys.find<beta>("a"));  // wrong class: empty
  EXPECT_FALSE(sys.whereis("nobody"));
  EXPECT_TRUE(sys.unregister_name("a"));
  EXPECT_FALSE(sys.whereis("a"));
  EXPECT_FALSE(sys.unregister_name("a"));
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(RegistryTest, ANameGoesAwayWithItsActor) {
  auto a = sys.spawn<alpha>();
  ASSERT_TRUE(sys.register_name("gone", a));
  a.stop();
  a.watch(10s).get();
  EXPECT_TRUE(eventually([&] { return !sys.whereis("gone"); }));
  EXPECT_FALSE(sys.register_name("gone", a));  // a stopped actor cannot be named
  auto b = sys.spawn<alpha>();
  EXPECT_TRUE(sys.register_name("gone", b));
  sys.shutdown();  // before the locals its actors point to go away
}

TEST_P(RegistryTest, ConcurrentRegistrationsPickOneWinnerPerName) {
  std::vector<actor_ref<alpha>> actors;
  for (int i = 0; i < 8; ++i) actors.push_back(sys.spawn<alpha>());
  std::atomic<int> wins{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&, t] {
      for (int k = 0; k < 100; ++k)
        if (sys.register_name("n" + std::to_string(k), actors[t])) wins.fetch_add(1);
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(wins.load(), 100);
  sys.shutdown();  // before the locals its actors point to go away
}

}  // namespace
}  // namespace troupe::test
