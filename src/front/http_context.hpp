// What an HTTP session (http_session.cpp) uses of its front thread, so that it depends on these
// few things rather than on the whole shard (shard.hpp), which builds one once, as `sh.http`,
// and hands it to its HTTP acceptor, which hands it to each session (http_session.hpp):
//
//   co_spawn(sh.ioc, run_http_acceptor(sh.http, *sh.http_acceptor), detached);
//
// References only, bound once: nothing is allocated or reference-counted per request, and each
// part is one pointer load away (the shard's own members were at an offset of `sh`). The shutdown bookkeeping (`connections`,
// `stopping`) stays the shard's (front.cpp's drain reads it); a session only registers itself
// there and reads the flag.
#pragma once
#include <boost/asio/ip/tcp.hpp>

#include <string>
#include <unordered_set>

namespace tempest::redis { class async_client; }

namespace tempest::front {

struct front_config;
struct front_stats;
struct sse_context;
class pending_jobs;
class job_id_source;
class job_dispatch;
class upload_spool;

// An open HTTP connection, as the shard sees it for shutdown: idle ones are closed at once,
// busy ones finish their request first.
struct connection_entry {
  boost::asio::ip::tcp::socket* socket = nullptr;
  bool busy = false;
};

struct http_context {
  const front_config& cfg;
  front_stats& stats;
  pending_jobs& pending;        // the thread's jobs waiting for an answer (pending_jobs.hpp)
  job_id_source& ids;           // job ids of this thread
  job_dispatch& dispatch;       // pushes the jobs (job_dispatch.hpp)
  redis::async_client& redis;   // the thread's command connection (cancellations)
  const std::string& respond_to;  // "host:port" of the thread's answer endpoint, written into jobs
  sse_context& sse;             // a request under --sub-prefix becomes an event stream
  const upload_spool& spool;    // the front's, for large request bodies (upload_spool.hpp)
  std::unordered_set<connection_entry*>& connections;  // the shard's, for shutdown
  const bool& stopping;         // the shard is draining: no new request on a kept-alive connection
};

}  // namespace tempest::front
