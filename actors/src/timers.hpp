#pragma once
// Actor timers (timers.cpp): send_after and send_periodic on the runtime's
// timing wheels, delivering on the target's system lane. The types are in
// the public detail header actor_ref.hpp (the typed timer is a template).

#include "troupe/actors/actor_ref.hpp"
