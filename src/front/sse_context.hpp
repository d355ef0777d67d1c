// What the event-stream parts (channel_hub, sse_replay, sse_session) use of their front thread,
// so that they depend on these few things rather than on the whole shard (shard.hpp), which
// holds one as `sh.sse` and hands it to them:
//
//   channel_hub hub(sh.sse, pubsub);  co_await run_sse(sh.sse, std::move(socket), std::move(req));
#pragma once
#include <memory>

namespace boost::asio { class io_context; }
namespace tempest::redis { class async_client; }

namespace tempest::front {

struct front_config;
struct front_stats;
class channel_hub;

struct sse_context {
  const front_config& cfg;
  front_stats& stats;
  boost::asio::io_context& ioc;                 // the thread's
  std::shared_ptr<redis::async_client>& redis;  // the thread's command connection (history reads)
  std::unique_ptr<channel_hub>& hub;            // null before start and after teardown
};

}  // namespace tempest::front
