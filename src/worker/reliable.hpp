// The library's own part of reliable.cpp (the public part is include/tempest/reliable.hpp):
// the reaper on an open connection, for the heartbeat thread (heartbeat.cpp).
#pragma once
#include "core/redis/blocking_client.hpp"
#include "tempest/reliable.hpp"

namespace tempest::detail {

// reap_dead_workers on an open connection (the heartbeat's). Throws redis::io_error when Redis
// is lost, std::runtime_error on other trouble.
reap_result reap_dead_workers(redis::blocking_client& r, const reap_options& o);

}  // namespace tempest::detail
