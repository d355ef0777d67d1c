// One front thread's world: its io_context, HTTP and answer listeners, Redis connection, job
// dispatcher and pending jobs. Shards share nothing but the config and the counters: a job
// issued by shard i carries shard i's respond_to address, so its answer arrives on shard i's
// own answer endpoint and never crosses threads.
//
// The parts get what they use, not the shard: sh.http (http_context.hpp) for the HTTP sessions,
// sh.answers (answer_context.hpp) for the answer endpoint, sh.sse (sse_context.hpp) for the event
// streams. Each is bound once, here; the objects they name live as long as the shard.
#pragma once
#include "core/redis/async_client.hpp"
#include "front/answer_context.hpp"
#include "front/channel_hub.hpp"
#include "front/endpoint_announcer.hpp"
#include "front/front_config.hpp"
#include "front/front_stats.hpp"
#include "front/http_context.hpp"
#include "front/job_dispatch.hpp"
#include "front/pending_jobs.hpp"
#include "front/sse_context.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>
#include <optional>
#include <string>
#include <unordered_set>

namespace tempest::front {

struct shard {
  // The Redis connection and the dispatcher are made here (not started), so that `http` can
  // name them.
  //
  // The io_context runs on one thread, and every socket, timer and acceptor of the shard is
  // used only from it (other threads only post to it: drain on a signal): Asio's per-socket
  // reactor locks are not needed (BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO; its scheduler still
  // locks, for those posts). Callgrind: 8 lock/unlock pairs a request.
  shard(int index, const front_config& cfg, front_stats& stats, const upload_spool& spool, std::uint64_t id_base,
        const redis_endpoint& redis_ep)
      : index(index), cfg(cfg), stats(stats), spool(spool),
        ioc_owner(std::make_unique<boost::asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO)),
        ioc(*ioc_owner), ids(id_base, index, cfg.threads),
        redis(std::make_shared<redis::async_client>(ioc.get_executor(), redis_ep, "front#" + std::to_string(index))),
        dispatch(std::make_unique<job_dispatch>(ioc.get_executor(), redis, cfg.queue, pending, stats)) {}
  // Tears down in the order Asio needs: I/O objects, then the io_context (which destroys the
  // suspended sessions, whose destructors still use `connections` and `stats`).
  ~shard() {
    announcer.reset();
    hub.reset();
    if (pubsub) pubsub->stop();
    pubsub.reset();
    if (redis) redis->stop();
    dispatch.reset();
    redis.reset();
    http_acceptor.reset();
    answer_acceptor.reset();
    ioc_owner.reset();
  }

  int index;
  const front_config& cfg;
  front_stats& stats;
  const upload_spool& spool;
  std::unique_ptr<boost::asio::io_context> ioc_owner;
  boost::asio::io_context& ioc;
  pending_jobs pending;
  job_id_source ids;
  std::shared_ptr<redis::async_client> redis;
  std::unique_ptr<job_dispatch> dispatch;
  std::unique_ptr<endpoint_announcer> announcer;  // respond_to in tempest:fronts, on redis
  std::shared_ptr<redis::async_client> pubsub;  // the thread's one Redis pub/sub connection
  std::unique_ptr<channel_hub> hub;             // Server-Sent Events fan-out
  sse_context sse{cfg, stats, ioc, redis, hub};  // what the event-stream parts use (sse_context.hpp)
  std::string respond_to;  // "host:port" of this shard's answer endpoint, written into jobs
  std::optional<boost::asio::ip::tcp::acceptor> http_acceptor;
  std::optional<boost::asio::ip::tcp::acceptor> answer_acceptor;
  std::unordered_set<connection_entry*> connections;
  bool stopping = false;
  http_context http{cfg, stats, pending, ids, *dispatch, *redis, respond_to, sse, spool, connections, stopping};
  answer_context answers{cfg, stats, pending, respond_to};
};

}  // namespace tempest::front
