// The front process: `tempest front`. Starts the embedded Redis if none is configured, one
// shard (event-loop thread) per --threads, prints the ready line on stdout:
//   ready http=HOST:PORT answer=HOST:PORT[,HOST:PORT...] redis=URL queue=NAME
// and runs until SIGINT/SIGTERM, then drains: stop accepting, close idle connections, let
// in-flight requests finish (bounded by --shutdown-timeout), exit 0.
#pragma once
#include "front/front_config.hpp"

namespace tempest::front {

// Returns the process exit code. Throws config_error for a bad configuration.
int run_front(const front_config& cfg);

}  // namespace tempest::front
