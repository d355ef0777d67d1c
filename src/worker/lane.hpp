// One lane of tempest::worker: the job loop of one thread (implemented in lane.cpp, started by
// worker::run() in worker.cpp).
//
//   detail::run_lane(w, 0, ep, "host:1:0");   // until w.stop() or a signal; "" id: plain mode
//
// Throws on an unexpected error (worker::run() logs it and stops the others).
#pragma once
#include <string>

#include "core/redis_url.hpp"
#include "tempest/worker.hpp"

namespace tempest::detail {

void run_lane(worker& w, int index, redis_endpoint ep, std::string id);

}  // namespace tempest::detail
