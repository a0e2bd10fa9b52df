#pragma once
// A bulkhead: at most N calls in flight to one dependency, so a slow
// dependency can tie up N callers and no more. Further calls are refused at
// once (errc::bulkhead_full), never queued.
//
// Thread-safe, lock-free: one CAS loop on the count, so N is never exceeded
// under any race.

#include <atomic>
#include <cstdint>
#include <utility>

namespace troupe::patterns {

class bulkhead {
 public:
  // One call's place. Move-only; released when destroyed.
  class permit {
   public:
    permit() = default;
    permit(permit&& o) noexcept : owner_(std::exchange(o.owner_, nullptr)) {}
    permit& operator=(permit&& o) noexcept {
      if (this != &o) {
        release();
        owner_ = std::exchange(o.owner_, nullptr);
      }
      return *this;
    }
    ~permit() { release(); }
    explicit operator bool() const noexcept { return owner_ != nullptr; }
    void release() noexcept {
      // relaxed: the count is a lone value; the CAS in try_acquire bounds it.
      if (owner_) std::exchange(owner_, nullptr)->in_use_.fetch_sub(1, std::memory_order_relaxed);
    }

   private:
    friend class bulkhead;
    bulkhead* owner_ = nullptr;
  };

  explicit bulkhead(std::uint32_t max_concurrent) : max_(max_concurrent) {}
  bulkhead(const bulkhead&) = delete;
  bulkhead& operator=(const bulkhead&) = delete;

  // Empty when N calls are already in flight. Thread-safe.
  permit try_acquire() noexcept {
    // relaxed: see permit::release.
    std::uint32_t n = in_use_.load(std::memory_order_relaxed);
    while (n < max_) {
      if (in_use_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) {
        admitted_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
        permit p;
        p.owner_ = this;
        return p;
      }
    }
    rejected_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
    return {};
  }

  // relaxed throughout: a lone count and statistics.
  std::uint32_t in_use() const noexcept { return in_use_.load(std::memory_order_relaxed); }
  std::uint32_t capacity() const noexcept { return max_; }
  std::uint64_t admitted() const noexcept { return admitted_.load(std::memory_order_relaxed); }
  std::uint64_t rejected() const noexcept { return rejected_.load(std::memory_order_relaxed); }

 private:
  const std::uint32_t max_;
  std::atomic<std::uint32_t> in_use_{0};
  std::atomic<std::uint64_t> admitted_{0}, rejected_{0};
};

}  // namespace troupe::patterns
