#include "troupe/load/sync_target.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <utility>

#include "troupe/runtime/error.hpp"

namespace troupe::load {

namespace {

struct pool_target {
  pool_target(std::function<outcome(const request&)> c, std::size_t threads)
      : call(std::move(c)), pool(threads) {}
  std::function<outcome(const request&)> call;
  // Declared after `call`, so destroyed (stopped and joined) first: no pool
  // thread can be running `call` when it goes.
  boost::asio::thread_pool pool;
};

}  // namespace

target sync_target(std::function<outcome(const request&)> call, std::size_t threads) {
  if (!call) throw troupe::error(errc::invalid_argument, "load::sync_target: the callable is empty");
  if (threads == 0) throw troupe::error(errc::invalid_argument, "load::sync_target: threads must be > 0");
  auto shared = std::make_shared<pool_target>(std::move(call), threads);
  return [shared](request r) {
    // The job holds a plain pointer, not the shared_ptr: so the last owner is
    // never a pool thread, which could not join its own pool.
    const auto* fn = &shared->call;
    boost::asio::post(shared->pool, [fn, r = std::move(r)]() mutable {
      outcome o = outcome::error;
      try {
        o = (*fn)(std::as_const(r));
      } catch (...) {
        o = outcome::error;
      }
      r.done(o);
    });
  };
}

}  // namespace troupe::load
