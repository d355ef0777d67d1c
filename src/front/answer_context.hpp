// What the answer endpoint (answer_endpoint.cpp) uses of its front thread, so that it depends
// on these few things rather than on the whole shard (shard.hpp), which builds one once, as
// `sh.answers`, and hands it to the endpoint with its listener:
//
//   co_spawn(ioc, run_answer_acceptor(sh.answers, *sh.answer_acceptor), detached);
//
// References only, bound once: nothing is allocated or reference-counted per answer. The
// endpoint's sessions run on the listener's executor (the shard's io_context).
#pragma once
#include <string>

namespace tempest::redis { struct fail_count; }

namespace tempest::front {

struct front_config;
struct front_stats;
class pending_jobs;

struct answer_context {
  const front_config& cfg;        // answer-password, max-answer-size and the other limits
  front_stats& stats;
  pending_jobs& pending;          // answers complete these (pending_jobs.hpp)
  const std::string& respond_to;  // "host:port" of this endpoint, for INFO
  // Tests only: the n-th read or write of the sessions fails as if the connection broke there
  // (core/redis/async_client.hpp's fail_count; tests/unit/front/answer_endpoint_test.cpp).
  // Null in production: one pointer test per read and per write.
  redis::fail_count* faults = nullptr;
};

}  // namespace tempest::front
