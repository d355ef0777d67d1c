#include "front/front.hpp"

#include "core/log.hpp"
#include "core/redis_url.hpp"
#include "front/answer_endpoint.hpp"
#include "core/redis/embedded_server.hpp"
#include "front/http_session.hpp"
#include "front/shard.hpp"
#include "front/upload_spool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/resource.h>
#include <sys/socket.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <thread>

namespace tempest::front {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

bool is_loopback_host(const std::string& host) {
  if (host == "localhost") return true;
  error_code ec;
  auto a = asio::ip::make_address(host, ec);
  return !ec && a.is_loopback();
}

tcp::endpoint resolve_listen(const std::string& host, std::uint16_t port, const char* key) {
  error_code ec;
  auto addr = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  if (ec) throw config_error(std::string(key) + ": '" + host + "' is not an IP address");
  return {addr, port};
}

void open_acceptor(tcp::acceptor& a, tcp::endpoint ep, bool reuse_port, const char* key) {
  error_code ec;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && reuse_port) {
    int one = 1;
    ::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  }
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(4096, ec);
  if (ec)
    throw config_error(std::string(key) + ": cannot listen on " + ep.address().to_string() + ":" +
                       std::to_string(ep.port()) + ": " + ec.message());
}

std::string host_port(const tcp::endpoint& ep) {
  auto a = ep.address();
  std::string h = a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
  return h + ":" + std::to_string(ep.port());
}

// Each HTTP connection holds a descriptor, and the front needs some of its own: per thread an
// epoll, an eventfd, a timerfd, two listeners with a spare descriptor each, two Redis
// connections; per process stdio and the signal pipe; then worker answer connections, the
// embedded Redis's pipe, files. --max-connections above RLIMIT_NOFILE minus this margin would
// leave new clients hanging in the listen backlog once descriptors run out.
std::uint64_t descriptor_margin(int threads) { return 64 + 16 * static_cast<std::uint64_t>(threads); }

void clamp_max_connections(front_config& cfg) {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return;
  auto margin = descriptor_margin(cfg.threads);
  std::uint64_t room = r.rlim_cur > margin + 1 ? r.rlim_cur - margin : 1;
  if (cfg.max_connections <= room) return;
  log::get("front")->info("max-connections {} is above what the open-files limit allows (ulimit -n {}, {} of them kept "
                          "for Redis, answer connections and files): using {}",
                          cfg.max_connections, static_cast<std::uint64_t>(r.rlim_cur), margin, room);
  cfg.max_connections = room;
}

// Drains one shard after SIGTERM: stop accepting, close idle connections, wait for busy ones
// until the deadline, then stop the loop.
asio::awaitable<void> drain(shard& sh, std::chrono::steady_clock::time_point deadline) {
  sh.stopping = true;
  error_code ec;
  sh.http_acceptor->close(ec);
  sh.hub->close_all();  // event streams have no end to wait for
  auto busy = [&sh, &ec] {
    std::size_t n = 0;
    for (auto* c : sh.connections) {
      if (c->busy) ++n;
      else c->socket->cancel(ec);
    }
    return n;
  };
  asio::steady_timer tick(sh.ioc);
  while (busy() > 0 && std::chrono::steady_clock::now() < deadline) {
    tick.expires_after(std::chrono::milliseconds(10));
    co_await tick.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (auto n = busy(); n > 0) log::get("front")->warn("shutdown: {} request(s) still running at the deadline", n);
  // Workers stop answering this endpoint once its announcement is gone: only now.
  if (sh.announcer) co_await sh.announcer->withdraw(std::chrono::milliseconds(500));
  sh.ioc.stop();
}

// Thread i's shard: its listeners bound (http_ep: the shared HTTP port, the chosen one after
// the first when 0), its Redis connections, dispatcher, announcer and hub started, its
// acceptors spawned. Runs once its io_context does.
std::unique_ptr<shard> start_shard(int i, const front_config& cfg, front_stats& stats, const upload_spool& spool,
                                   std::uint64_t id_base,
                                   tcp::endpoint& http_ep, const tcp::endpoint& answer_ep,
                                   const redis_endpoint& redis_ep) {
  auto sh = std::make_unique<shard>(i, cfg, stats, spool, id_base, redis_ep);
  sh->http_acceptor.emplace(sh->ioc);
  open_acceptor(*sh->http_acceptor, http_ep, cfg.threads > 1, "listen");
  http_ep = sh->http_acceptor->local_endpoint();  // port 0: the others share the chosen port
  sh->answer_acceptor.emplace(sh->ioc);
  auto aep = answer_ep;
  if (aep.port() != 0) aep.port(static_cast<std::uint16_t>(aep.port() + i));
  open_acceptor(*sh->answer_acceptor, aep, false, "answer-listen");
  auto bound = sh->answer_acceptor->local_endpoint();
  if (bound.address().is_unspecified()) {
    char name[256] = "localhost";
    ::gethostname(name, sizeof name - 1);
    sh->respond_to = std::string(name) + ":" + std::to_string(bound.port());
  } else {
    sh->respond_to = host_port(bound);
  }
  sh->dispatch->start();
  // Announced on every connect, before any job of this thread (docs/protocol.md 3.5).
  sh->announcer = std::make_unique<endpoint_announcer>(sh->ioc.get_executor(), sh->redis, sh->respond_to,
                                                       cfg.announce_interval);
  sh->announcer->start();
  sh->redis->start();
  sh->pubsub = std::make_shared<redis::async_client>(sh->ioc.get_executor(), redis_ep, "pubsub#" + std::to_string(i));
  sh->hub = std::make_unique<channel_hub>(sh->sse, sh->pubsub);
  sh->hub->start();
  asio::co_spawn(sh->ioc, run_http_acceptor(sh->http, *sh->http_acceptor), asio::detached);
  asio::co_spawn(sh->ioc, run_answer_acceptor(sh->answers, *sh->answer_acceptor), asio::detached);
  return sh;
}

}  // namespace

int run_front(const front_config& cfg_in) {
  // SIGHUP (a closed terminal, a reload habit) must never kill the front: ignored from the
  // start, then logged once the signal set below takes it over. (Redis ignores it too.)
  ::signal(SIGHUP, SIG_IGN);
  // A spool file past the file-size limit (ulimit -f) must fail that write (EFBIG, answered
  // 507), not kill the front.
  ::signal(SIGXFSZ, SIG_IGN);
  front_config cfg = cfg_in;
  auto log = log::get("front");
  if (!is_loopback_host(cfg.answer_host) && cfg.answer_password.empty())
    throw config_error("answer-listen: " + cfg.answer_host +
                       " is not a loopback address: set answer-password so nobody on the network can inject answers");
  // Bodies up to the threshold are held in memory: never more than max-body-size of them.
  cfg.spool_threshold = std::min(cfg.spool_threshold, cfg.max_body_size);
  if (cfg.redis_url.empty())
    if (const char* env = std::getenv("TEMPEST_REDIS"); env && *env) cfg.redis_url = env;
  std::unique_ptr<redis::embedded_server> embedded;
  if (cfg.redis_url.empty()) {
    embedded = redis::embedded_server::start(cfg.redis_server);
    cfg.redis_url = embedded->url();
    log->info("started the embedded Redis at {} (give --redis URL to use your own)", cfg.redis_url);
  }
  redis_endpoint redis_ep;
  try {
    redis_ep = parse_redis_url(cfg.redis_url);
  } catch (const std::exception& e) {
    throw config_error(std::string("redis: ") + e.what());
  }

  clamp_max_connections(cfg);

  front_stats stats;
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
  std::uint64_t id_base = static_cast<std::uint64_t>(now_ms.count()) * 1024;
  id_base += (cfg.threads - id_base % cfg.threads) % cfg.threads;

  upload_spool spool;  // prepared below, once the HTTP port is known; outlives the shards
  std::vector<std::unique_ptr<shard>> shards;
  auto http_ep = resolve_listen(cfg.listen_host, cfg.listen_port, "listen");
  auto answer_ep = resolve_listen(cfg.answer_host, cfg.answer_port, "answer-listen");
  std::string answers;
  for (int i = 0; i < cfg.threads; ++i) {
    auto sh = start_shard(i, cfg, stats, spool, id_base, http_ep, answer_ep, redis_ep);
    answers += (i ? "," : "") + sh->respond_to;
    shards.push_back(std::move(sh));
  }
  // Before any loop runs: no session creates a file yet.
  bool spools = std::any_of(cfg.spool_routes.begin(), cfg.spool_routes.end(), [](auto& r) { return r.value == "yes"; });
  if (!spools) {
    log->info("no route spools request bodies (spool-routes): bodies stay in memory, up to max-body-size");
  } else if (spool.prepare(cfg.spool_dir.empty() ? upload_spool::default_dir(http_ep.port()) : cfg.spool_dir)) {
    if (spool.leftovers_removed() > 0)
      log->info("spool dir {}: removed {} file(s) left by an earlier run", spool.dir(), spool.leftovers_removed());
  } else {
    log->error("{}: request bodies over spool-threshold will get 507 until the front is restarted with a usable "
               "spool-dir", spool.problem());
  }

  std::optional<asio::signal_set> signals(std::in_place, shards[0]->ioc, SIGINT, SIGTERM, SIGHUP);
  std::function<void(error_code, int)> on_signal = [&](error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {  // there is no reload (yet): say so and keep serving
      log->info("received SIGHUP: ignored (the front does not reload its settings; restart it to change them)");
      signals->async_wait(on_signal);
      return;
    }
    log->info("received {}, draining (at most {} ms)", sig == SIGINT ? "SIGINT" : "SIGTERM", cfg.shutdown_timeout.count());
    auto deadline = std::chrono::steady_clock::now() + cfg.shutdown_timeout;
    for (auto& sh : shards) asio::co_spawn(sh->ioc, drain(*sh, deadline), asio::detached);
  };
  signals->async_wait(on_signal);

  std::printf("ready http=%s answer=%s redis=%s queue=%s\n", host_port(http_ep).c_str(), answers.c_str(),
              redis_ep.to_string().c_str(), cfg.queue.c_str());
  std::fflush(stdout);
  log->info("listening on http://{} ; answers on {} ; queue '{}' on {} ; {} thread(s)", host_port(http_ep), answers,
            cfg.queue, redis_ep.to_string(), cfg.threads);

  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < shards.size(); ++i) threads.emplace_back([&sh = *shards[i]] { sh.ioc.run(); });
  shards[0]->ioc.run();
  for (auto& t : threads) t.join();
  signals.reset();
  ::signal(SIGHUP, SIG_IGN);  // removing it from the set restored the default action
  shards.clear();
  log->info("stopped");
  return 0;
}

}  // namespace tempest::front
