// The registry of named actors: a oneTBB concurrent_hash_map from name to
// handle. A name goes away with its actor (finalize calls unregister_names).

#include "registry.hpp"

#include <mutex>

#include "cell.hpp"
#include "mailbox_word.hpp"
#include "system.hpp"

namespace troupe {

bool actor_system::register_name(const std::string& name, const actor_addr& a) {
  detail::check_ref(a.cell(), "actor_system::register_name");
  if (a.stopped()) return false;
  detail::system_impl* s = impl_.get();
  {
    decltype(s->names)::accessor acc;
    if (!s->names.insert(acc, name)) return false;
    acc->second = a;
  }
  detail::cell_ext* x = detail::ensure_ext(a.cell());
  bool dead;
  {
    std::lock_guard g(x->lock);
    // seq_cst: see ensure_ext; finalize either sees the name or we see it dead.
    dead = x->dead || detail::mailbox_word(a.cell()->word.load(std::memory_order_seq_cst)).final();
    if (!dead) x->names.push_back(name);
  }
  if (dead) {
    detail::unregister_names(a.cell(), {name});
    return false;
  }
  return true;
}

bool actor_system::unregister_name(const std::string& name) { return impl_->names.erase(name); }

actor_addr actor_system::whereis(const std::string& name) const {
  decltype(impl_->names)::const_accessor acc;
  if (!impl_->names.find(acc, name)) return {};
  return acc->second;
}

namespace detail {

void unregister_names(actor_cell* c, const std::vector<std::string>& names) {
  actor_addr dropped;  // released after the accessor's lock
  for (const std::string& n : names) {
    decltype(c->sys->names)::accessor acc;
    if (c->sys->names.find(acc, n) && acc->second.cell() == c) {
      dropped = std::move(acc->second);
      c->sys->names.erase(acc);
    }
  }
}

}  // namespace detail
}  // namespace troupe
