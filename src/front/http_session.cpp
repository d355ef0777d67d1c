#include "front/http_session.hpp"

#include "core/log.hpp"
#include "core/queue/keys.hpp"
#include "core/redis/async_client.hpp"
#include "core/resp.hpp"
#include "front/accept_guard.hpp"
#include "front/http_checks.hpp"
#include "front/job_encode.hpp"
#include "front/front_config.hpp"
#include "front/front_stats.hpp"
#include "front/http_context.hpp"
#include "front/job_dispatch.hpp"
#include "front/pending_jobs.hpp"
#include "front/response_writer.hpp"
#include "front/sse_session.hpp"
#include "front/upload_spool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <strings.h>

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <vector>

namespace tempest::front {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

namespace {

// A per-connection deadline. When it passes, pending I/O on the socket is cancelled, not
// closed, so the session can still answer 408. Arming it again replaces the previous one.
//
// Arming is lazy: a session arms it three times a request (idle, header, response) and a
// cancel-and-rewait of an Asio timer each time cost a handler run and two timer-queue updates
// (callgrind: 4% of the front's work). Here the timer only moves when the new due time is
// earlier than the one it waits for; when it fires before the due time (the deadline was
// pushed back meanwhile), it waits again for the rest.
class deadline {
 public:
  using clock = std::chrono::steady_clock;
  explicit deadline(asio::ip::tcp::socket& s) : socket_(s), timer_(s.get_executor()) {}
  void arm(std::chrono::milliseconds d) {
    expired_ = false;
    due_ = clock::now() + d;
    if (!waiting_ || due_ < timer_.expiry()) wait_until(due_);
  }
  void disarm() { due_ = clock::time_point::max(); }
  bool expired() const { return expired_; }

 private:
  void wait_until(clock::time_point t) {
    waiting_ = true;
    timer_.expires_at(t);  // an earlier wait, if any, ends with operation_aborted
    timer_.async_wait([this](error_code ec) {
      if (ec) return;  // superseded or destroyed: `this` may be gone, touch nothing
      if (due_ == clock::time_point::max()) {
        waiting_ = false;
      } else if (clock::now() < due_) {
        wait_until(due_);
      } else {
        waiting_ = false;
        expired_ = true;
        error_code ignored;
        socket_.cancel(ignored);
      }
    });
  }

  asio::ip::tcp::socket& socket_;
  asio::steady_timer timer_;
  clock::time_point due_ = clock::time_point::max();
  bool waiting_ = false;  // a wait is outstanding (it may be for an earlier time than due_)
  bool expired_ = false;
};

// What a failed read means for the client: errc::none means "just close".
errc classify_read_error(const error_code& ec, const deadline& dl) {
  if (ec == asio::error::operation_aborted && dl.expired()) return errc::request_timeout;
  if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == asio::error::operation_aborted)
    return errc::none;
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow) return errc::header_too_large;
  if (ec == http::error::body_limit) return errc::body_too_large;
  if (ec.category() == http::make_error_code(http::error::bad_method).category()) return errc::bad_request;
  return errc::none;
}

void error_response(errc e, http_answer& res) {
  res.status = http_status(e);
  res.headers.clear();
  res.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  res.body.assign(error_text(e)).append("\n");
}

// RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored (and 15.2: no
// 1xx response is ever sent to an HTTP/1.0 client).
bool expects_continue(const http_request& req) {
  auto v = req[http::field::expect];
  return req.version() >= 11 && v.size() == 12 && strncasecmp(v.data(), "100-continue", 12) == 0;
}

using request_parser = http::request_parser<request_body>;

// Reads a request's header into the parser. At most `limit` bytes, from the first byte of the
// request line to the end of the blank line, counted as received however the bytes are split
// across reads: Beast's own header_limit bounds each parse call, not the header as a whole.
// Bytes after the header (a body, a pipelined request) stay in the buffer.
asio::awaitable<error_code> read_header(asio::ip::tcp::socket& stream, beast::flat_buffer& buffer,
                                        request_parser& parser, std::size_t limit) {
  std::size_t used = 0;  // header bytes the parser has consumed so far
  error_code ec;
  for (;;) {
    if (buffer.size() > 0) {
      std::size_t room = limit - used;
      std::size_t n = std::min(buffer.size(), room);
      std::size_t consumed = parser.put(asio::buffer(buffer.data().data(), n), ec);
      buffer.consume(consumed);
      used += consumed;
      if (parser.is_header_done()) co_return error_code{};
      if (ec && ec != http::error::need_more) co_return ec;
      if (n == room) co_return http::error::header_limit;  // no end of header within the limit
    }
    // As Beast's own reads: what the buffer holds already (at least 512), at most 64 KiB.
    auto got = co_await stream.async_read_some(buffer.prepare(beast::read_size(buffer, 64 * 1024)),
                                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::eof) co_return parser.got_some() ? http::error::partial_message : http::error::end_of_stream;
    if (ec) co_return ec;
    buffer.commit(got);
  }
}

// Chunked trailer fields (RFC 9110 6.5.1) are dropped. Beast's parser adds them to the header
// fields, after check_request_header ran (a repeated name lands next to the header field of
// that name, not at the end): kept, a trailer "Host" or "Cookie" would join the client's own,
// and a trailer priority header would choose the job's priority. The header fields are
// known by address (Beast allocates each field on its own and never moves it).
class trailer_filter {
 public:
  explicit trailer_filter(const http_request& req) {
    if (!req.chunked()) return;  // only a chunked body has trailers
    for (auto& f : req) header_.push_back(&f);
    std::sort(header_.begin(), header_.end(), std::less<>());
  }
  void drop_trailers(http_request& req) const {
    if (header_.empty()) return;
    for (auto it = req.begin(); it != req.end();) {
      if (std::binary_search(header_.begin(), header_.end(), &*it, std::less<>())) ++it;
      else it = req.erase(it);
    }
  }

 private:
  std::vector<const http::fields::value_type*> header_;
};

// After an error response: stop sending, then drain what the client still sends for a short
// while, so that closing does not reset the connection before the response is read.
asio::awaitable<void> lingering_close(asio::ip::tcp::socket& socket, deadline& dl) {
  error_code ec;
  socket.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  char sink[4096];
  std::size_t drained = 0;
  dl.arm(std::chrono::milliseconds(500));
  while (!ec && drained < 256 * 1024)
    drained += co_await socket.async_read_some(asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ec));
  dl.disarm();
  socket.close(ec);
}

struct connection_guard {
  http_context& ctx;
  connection_entry& entry;
  ~connection_guard() {
    ctx.connections.erase(&entry);
    front_stats::dec(ctx.stats.connections);
  }
};

// Priority, deadline and retry safety of a request's job (protocol.md 8).
// path: the job's normalised "path" (request_target.hpp), the one every rule matches.
queue_keys::priority decide_meta(const front_config& cfg, const http_request& req, std::string_view path,
                                 job_meta& meta) {
  std::string_view method = req.method_string();
  auto p = queue_keys::priority::normal;
  bool from_header = false;
  if (!cfg.priority_header.empty()) {
    auto it = req.find(cfg.priority_header);
    if (it != req.end()) from_header = queue_keys::parse(it->value(), p);
  }
  if (!from_header)
    if (auto v = match_route(cfg.priority_routes, method, path)) queue_keys::parse(*v, p);
  meta.priority = queue_keys::name(p);
  auto now = std::chrono::system_clock::now().time_since_epoch();
  meta.deadline_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now + cfg.timeout).count();
  if (auto v = match_route(cfg.retry_routes, method, path)) {
    meta.retry = *v == "yes";
  } else {
    meta.retry = std::find(cfg.retry_methods.begin(), cfg.retry_methods.end(), method) != cfg.retry_methods.end();
  }
  return p;
}

// Watches a waiting request's connection: a client that closes it has its job cancelled (or
// its stream cut). Started only once the answer takes more than a moment, so fast requests pay
// nothing, or when a stream starts. A readable socket that is not closed holds the next
// pipelined request: the watch then ends, and the bytes stay for the next read.
class client_watch {
 public:
  client_watch(asio::ip::tcp::socket& s, job_slot& slot) : socket_(s), slot_(slot) {}
  ~client_watch() { stop(); }
  client_watch(const client_watch&) = delete;
  client_watch& operator=(const client_watch&) = delete;

  void start() {
    if (flags_) return;
    flags_ = std::make_shared<flags>();
    socket_.async_wait(asio::ip::tcp::socket::wait_read, [f = flags_, &slot = slot_, fd = socket_.native_handle()](error_code e) {
      if (e || !f->active) return;
      char c;
      auto n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        f->gone = true;
        slot.wake.cancel();
      }
    });
  }
  bool started() const { return flags_ != nullptr; }
  bool gone() const { return flags_ && flags_->gone; }
  // Ends the watch; no other operation of the socket may be pending (its wait is cancelled).
  void stop() {
    if (!flags_) return;
    flags_->active = false;  // the handler then touches nothing
    error_code ignored;
    socket_.cancel(ignored);
    flags_.reset();
  }

 private:
  struct flags {
    bool active = true;
    bool gone = false;  // the client closed the connection
  };
  asio::ip::tcp::socket& socket_;
  job_slot& slot_;
  std::shared_ptr<flags> flags_;
};

constexpr std::chrono::milliseconds watch_after{50};

// The read buffer of an idle keep-alive connection, bytes.
constexpr std::size_t idle_buffer = 512;

// The job leaves the pending table (later answers get "-ERR unknown job").
void forget_job(http_context& ctx, job_slot& slot) {
  ctx.pending.remove(slot.id);
  front_stats::dec(ctx.stats.pending_jobs);
}

// The client went away first: the job is marked cancelled (field <respond_to>/<id> of
// tempest:cancelled) so that workers skip it, or see request::cancelled().
void cancel_job(http_context& ctx, const job_slot& slot) {
  front_stats::inc(ctx.stats.cancelled);
  std::string id = std::to_string(slot.id);
  // The hash lives as long as the longest wait: --timeout after the last cancellation.
  auto ignore = [](error_code, resp_value) {};
  ctx.redis.send(format_command({"HSET", queue_keys::cancelled, queue_keys::cancel_field(ctx.respond_to, id), "1"}),
                 ignore);
  ctx.redis.send(format_command({"PEXPIRE", queue_keys::cancelled, std::to_string(ctx.cfg.timeout.count() + 1000)}),
                 ignore);
}

enum class wait_outcome { respond, stream, gone };

// Waits for the job's answer or its deadline: `respond` with the response to send in
// slot.answer (the worker's, or the front's error); `stream` when a streamed answer's head
// arrived (the job stays pending, the watch goes on: send_stream); `gone` when the client
// went away (the job is then cancelled).
asio::awaitable<wait_outcome> wait_for_answer(http_context& ctx, job_slot& slot, client_watch& watch) {
  auto deadline = std::chrono::steady_clock::now() + ctx.cfg.timeout;
  slot.wake.expires_after(std::min(ctx.cfg.timeout, watch_after));
  while (slot.waiting() && !watch.gone()) {
    error_code ec;
    co_await slot.wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) continue;  // woken: an answer, an error, or the client left
    if (watch.started() || std::chrono::steady_clock::now() >= deadline) break;  // the deadline passed
    watch.start();
    slot.wake.expires_at(deadline);
  }
  if (slot.st == job_slot::state::streaming) co_return wait_outcome::stream;
  bool gone = watch.gone() && slot.st != job_slot::state::done;
  watch.stop();
  forget_job(ctx, slot);
  if (gone) {
    cancel_job(ctx, slot);
    log::get("http")->debug("[j{}] the client went away: job cancelled", slot.id);
    co_return wait_outcome::gone;
  }
  if (slot.st == job_slot::state::done && slot.error == errc::none) co_return wait_outcome::respond;
  errc e = slot.st == job_slot::state::done ? slot.error
           : slot.st == job_slot::state::pushing ? errc::redis_unavailable
                                                 : errc::answer_timeout;
  if (e == errc::answer_timeout) front_stats::inc(ctx.stats.timeouts);
  if (e == errc::redis_unavailable) front_stats::inc(ctx.stats.redis_unavailable);
  log::get("http")->debug("[j{}] answered {}: {}", slot.id, http_status(e), error_text(e));
  error_response(e, slot.answer);
  co_return wait_outcome::respond;
}

// Sends a streamed answer (protocol.md 10) as its bytes arrive: the head at once, then what
// the answer endpoint gathered in slot.stream, one write at a time (the bytes that arrive
// meanwhile wait in the stream's buffer; taking them wakes the answer connections that
// paused for room, 10.4). Returns whether the connection can take the next request.
asio::awaitable<bool> send_stream(http_context& ctx, asio::ip::tcp::socket& socket, job_slot& slot,
                                  client_watch& watch, deadline& dl, response_framing framing, std::string& head) {
  answer_stream& st = slot.stream;
  const auto idle = ctx.cfg.stream_idle_timeout;
  bool sized = st.declared != answer_stream::no_length;
  framing.kind = sized ? response_framing::body::sized
                 : framing.version >= 11 ? response_framing::body::chunked
                                         : response_framing::body::until_close;
  if (framing.kind == response_framing::body::until_close) framing.keep_alive = false;
  framing.length = st.declared;
  bool chunked = framing.kind == response_framing::body::chunked;
  head.clear();
  bool with_body = serialize_head(slot.answer, framing, head);  // HEAD, 204, 304: chunks are dropped
  watch.start();

  std::string sending;          // the bytes being written (swapped with st.bytes)
  const char* cut = nullptr;    // why the stream ended early
  bool client_left = false;
  bool complete = false;
  for (;;) {
    if (!st.bytes.empty()) {
      if (with_body) sending.swap(st.bytes);
      st.bytes.clear();
      st.wake_writers();
    }
    complete = st.ended;
    if (chunked && !sending.empty()) {
      char size[20];
      auto [end, e] = std::to_chars(size, size + sizeof size, sending.size(), 16);
      head.append(size, end).append("\r\n");
    }
    std::string_view tail = !chunked ? "" : sending.empty() ? (complete && with_body ? "0\r\n\r\n" : "")
                                            : (complete ? "\r\n0\r\n\r\n" : "\r\n");
    if (!head.empty() || !sending.empty() || !tail.empty()) {
      std::array<asio::const_buffer, 3> bufs{asio::buffer(head), asio::buffer(sending), asio::buffer(tail)};
      error_code ec;
      // The idle limit is on progress: each write that takes some bytes re-arms it, so a slow
      // reader is served at its pace and only one that takes nothing is dropped.
      for (std::size_t left = asio::buffer_size(bufs); left > 0 && !ec;) {
        dl.arm(idle);
        std::size_t n = co_await socket.async_write_some(bufs, asio::redirect_error(asio::use_awaitable, ec));
        left -= n;
        for (auto& b : bufs) {
          std::size_t k = std::min(n, b.size());
          b += k;
          n -= k;
        }
      }
      dl.disarm();
      front_stats::inc(ctx.stats.stream_bytes, sending.size());
      head.clear();
      sending.clear();
      if (ec) {
        cut = dl.expired() ? "the client took nothing for --stream-idle-timeout" : "the client went away";
        client_left = !dl.expired();
        complete = false;
        break;
      }
    }
    if (complete) break;
    if (st.cut) {
      cut = st.aborted ? "the worker aborted it" : "the worker's stream broke its rules (logged above)";
      break;
    }
    if (watch.gone()) {
      cut = "the client went away";
      client_left = true;
      break;
    }
    if (!st.bytes.empty()) continue;
    error_code ec;
    slot.wake.expires_after(idle);
    co_await slot.wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && st.bytes.empty() && !st.ended && !st.cut) {
      cut = "no chunk within --stream-idle-timeout";
      break;
    }
  }
  watch.stop();
  forget_job(ctx, slot);
  st.reset();
  if (cut) {
    front_stats::inc(ctx.stats.streams_cut);
    log::get("http")->info("[j{}] streamed answer cut, connection closed: {}", slot.id, cut);
    if (client_left) cancel_job(ctx, slot);
    co_return false;
  }
  co_return framing.keep_alive;
}

// One request's header and body, read and checked. `target`'s views point into `path_scratch`
// or into the target's bytes, which the parser's message owns. Returns errc::none with `ec`
// set when the client went away or was too slow (nothing to answer: just close).
struct read_result {
  errc e = errc::none;
  error_code ec;
  target_error bad_target = target_error::none;
};

std::string spool_problem(const upload_spool& spool, int err) {
  return spool.ok() ? std::string(std::strerror(err)) + " (in " + spool.dir() + ")" : spool.problem();
}

// Where a request's body goes (protocol.md 11): on a route that spools, a body over
// --spool-threshold goes to a file, up to --max-upload-size; elsewhere it stays in memory, up
// to --max-body-size. A declared length over the limit is refused before any body byte is
// read (and before 100 Continue); one over the threshold gets its file at once, and a disk
// without room for it gets 507 before reading. Returns the status to refuse with.
errc plan_body(const front_config& cfg, const upload_spool& spool, request_parser& parser, std::string_view path,
               const std::string& remote_addr) {
  auto& req = parser.get();
  bool spools = match_route(cfg.spool_routes, req.method_string(), path) == std::optional<std::string_view>("yes");
  std::uint64_t limit = spools ? std::max(cfg.max_upload_size, cfg.spool_threshold) : cfg.max_body_size;
  auto length = parser.content_length();
  if (length && *length > limit) return errc::body_too_large;
  parser.body_limit(limit);  // a chunked body, counted as it arrives
  if (!spools) return errc::none;
  auto& body = req.body();
  body.spool = &spool;
  body.spill_at = cfg.spool_threshold;
  if (length && *length > cfg.spool_threshold && (!body.spill() || !body.file->check_room(*length))) {
    if (body.file) body.spool_error = body.file->error();
    log::get("http")->warn("[c{}] 507: cannot spool a {}-byte request body: {}", remote_addr, *length,
                           spool_problem(spool, body.spool_error));
    return errc::spool_failed;
  }
  return errc::none;
}

// The target is split and normalised here, once, before any body is read; every later use
// (rules, event-stream prefix, the job) takes this path. The header and a body held in memory
// must arrive within --header-timeout; a body going to a spool file (large, so it may take
// long) must only make progress: each read re-arms the limit.
asio::awaitable<read_result> read_request(const front_config& cfg, const upload_spool& spool,
                                          asio::ip::tcp::socket& stream, beast::flat_buffer& buffer, deadline& dl,
                                          request_parser& parser, std::string& path_scratch, target_parts& target,
                                          const std::string& remote_addr) {
  read_result r;
  parser.header_limit(static_cast<std::uint32_t>(cfg.max_header_size));
  parser.body_limit(std::max(cfg.max_body_size, cfg.max_upload_size));  // the route's limit: plan_body
  dl.arm(cfg.header_timeout);
  r.ec = co_await read_header(stream, buffer, parser, cfg.max_header_size);
  r.e = r.ec ? classify_read_error(r.ec, dl) : check_request_header(parser.get().base());
  if (!r.ec && r.e == errc::none) {
    r.bad_target = parse_target(parser.get().target(), path_scratch, target);
    if (r.bad_target != target_error::none) r.e = errc::bad_request;
  }
  if (!r.ec && r.e == errc::none) r.e = plan_body(cfg, spool, parser, target.path, remote_addr);
  if (!r.ec && r.e == errc::none) {
    if (expects_continue(parser.get()) && !parser.is_done()) {
      static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
      co_await asio::async_write(stream, asio::buffer(cont), asio::redirect_error(asio::use_awaitable, r.ec));
    }
    trailer_filter header_fields(parser.get());
    auto& body = parser.get().body();
    // Reads take what room the buffer has (beast::read_size): an idle connection's small buffer
    // would read a body 512 bytes at a time.
    if (!parser.is_done()) buffer.reserve(std::min<std::size_t>(buffer.max_size(), 64 * 1024));
    if (!r.ec && !parser.is_done() && !body.spool) {
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, r.ec));
    } else {
      while (!r.ec && !parser.is_done()) {
        if (body.file) dl.arm(cfg.header_timeout);
        co_await http::async_read_some(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, r.ec));
      }
    }
    if (body.spool_error) {
      r.e = errc::spool_failed;
      log::get("http")->warn("[c{}] 507: cannot spool a request body: {}", remote_addr,
                             spool_problem(spool, body.spool_error));
    } else if (r.ec) {
      r.e = classify_read_error(r.ec, dl);
    } else {
      header_fields.drop_trailers(parser.get());
    }
  }
  dl.disarm();
  co_return r;
}

// Answers a request the front refuses itself (4xx/5xx before any job) and closes the connection.
asio::awaitable<void> refuse(front_stats& stats, const front_config& cfg, asio::ip::tcp::socket& stream,
                             deadline& dl, const std::string& remote_addr, const read_result& r) {
  front_stats::inc(stats.bad_requests);
  log::get("http")->debug("[c{}] {} {}: {}", remote_addr, http_status(r.e), error_text(r.e),
                          r.ec ? r.ec.message() : std::string(describe(r.bad_target)));
  http_answer res;
  error_response(r.e, res);

  dl.arm(cfg.header_timeout);
  error_code ec;
  std::string head;
  co_await write_response(stream, res, {.keep_alive = false}, head, ec);
  co_await lingering_close(stream, dl);
}

// Request -> job: encodes the request, registers `slot` as pending and pushes the job.
void issue_job(http_context& ctx, const http_request& req, const target_parts& target, const std::string& remote_addr,
               job_slot& slot) {
  slot.id = ctx.ids.next();
  slot.st = job_slot::state::pushing;
  slot.error = errc::none;
  std::string job;
  job.reserve(512 + 2 * req.target().size() + req.body().text.size());  // most jobs: one allocation
  job_meta meta;
  auto priority = decide_meta(ctx.cfg, req, target.path, meta);
  encode_job(job, req, target, remote_addr, ctx.respond_to, slot.id, meta);
  ctx.pending.add(slot);
  front_stats::inc(ctx.stats.pending_jobs);
  ctx.dispatch.push(slot.id, std::move(job), priority);
}

// The connection becomes an event stream, which reads the channels from the target: give it
// the normalised origin form.
void to_origin_form(http_request& req, const target_parts& target) {
  if (target.path.data() == req.target().data()) return;
  std::string origin(target.path);
  if (!target.query.empty()) origin.append("?").append(target.query);
  req.target(origin);
}

}  // namespace

asio::awaitable<void> run_http_session(http_context& ctx, asio::ip::tcp::socket socket) {
  const front_config& cfg = ctx.cfg;
  error_code ec;
  auto remote = socket.remote_endpoint(ec);
  std::string remote_addr = ec ? "" : remote.address().to_string() + ":" + std::to_string(remote.port());
  asio::ip::tcp::socket& stream = socket;
  deadline dl(stream);
  connection_entry entry{&stream, false};
  ctx.connections.insert(&entry);
  front_stats::inc(ctx.stats.connections);
  connection_guard guard{ctx, entry};

  beast::flat_buffer buffer(cfg.max_header_size + 64 * 1024);
  job_slot slot(socket.get_executor());
  std::string path_scratch;  // a normalised path that differs from the target's (kept per connection)
  std::string head;          // the response head's bytes (kept per connection)
  for (;;) {
    entry.busy = false;
    if (ctx.stopping) break;
    if (buffer.size() == 0) {
      // Idle keep-alive: hold only a small buffer while waiting for the next request's first
      // bytes, so that thousands of idle connections cost little memory. (A read, not a
      // wait-for-readable: Asio re-arms epoll with a syscall for every non-speculative wait.)
      // A buffer that small already is kept, not freed and allocated again each request.
      if (buffer.capacity() > idle_buffer) buffer.shrink_to_fit();
      dl.arm(cfg.keepalive_timeout);
      auto n = co_await stream.async_read_some(buffer.prepare(idle_buffer), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;  // idle timeout, the client left, or shutdown: close quietly
      buffer.commit(n);
    }
    entry.busy = true;
    request_parser parser;
    target_parts target;
    auto r = co_await read_request(cfg, ctx.spool, stream, buffer, dl, parser, path_scratch, target, remote_addr);
    if (r.ec && r.e == errc::none) break;  // the client went away or was too slow: just close
    if (r.e != errc::none) {
      co_await refuse(ctx.stats, cfg, stream, dl, remote_addr, r);
      co_return;
    }

    http_request& req = parser.get();  // not released: target's views stay on its bytes
    if (is_sse_target(cfg, target.path)) {
      to_origin_form(req, target);
      dl.disarm();
      ctx.connections.erase(&entry);
      co_await run_sse(ctx.sse, std::move(socket), std::move(req));
      co_return;
    }
    front_stats::inc(ctx.stats.requests_total);
    bool keep_alive = req.keep_alive();
    bool head_only = req.method() == http::verb::head;
    issue_job(ctx, req, target, remote_addr, slot);
    client_watch watch(stream, slot);
    auto outcome = co_await wait_for_answer(ctx, slot, watch);
    if (outcome == wait_outcome::gone) break;
    keep_alive = keep_alive && !ctx.stopping;
    response_framing framing{.version = req.version(), .keep_alive = keep_alive, .head = head_only};
    if (outcome == wait_outcome::stream) {
      if (!co_await send_stream(ctx, stream, slot, watch, dl, framing, head)) break;
      continue;
    }
    dl.arm(std::max(cfg.header_timeout, cfg.timeout));
    co_await write_response(stream, slot.answer, framing, head, ec);  // adds the reason and the framing
    if (ec || !keep_alive) break;
  }
  dl.disarm();
  stream.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  stream.close(ec);
}

asio::awaitable<void> run_http_acceptor(http_context& ctx, asio::ip::tcp::acceptor& acceptor) {
  accept_guard guard("HTTP", &ctx.stats.connections_refused);
  for (;;) {
    error_code ec;
    auto socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ctx.stopping || ec == asio::error::operation_aborted) co_return;
    if (ec) {  // out of file descriptors and the like: a quick close for the client, a rate-limited log
      co_await guard.failed(acceptor, ec);
      continue;
    }
    front_stats::inc(ctx.stats.connections_total);
    auto open = ctx.stats.connections.load(std::memory_order_relaxed) +
                ctx.stats.sse_subscribers.load(std::memory_order_relaxed);
    if (open >= ctx.cfg.max_connections) {
      front_stats::inc(ctx.stats.connections_refused);
      socket.close(ec);
      continue;
    }
    socket.set_option(asio::ip::tcp::no_delay(true), ec);
    socket.non_blocking(true, ec);  // write_response writes directly when the socket can take it
    asio::co_spawn(acceptor.get_executor(), run_http_session(ctx, std::move(socket)), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log::get("http")->error("session ended by an exception: {}", ex.what());
      }
    });
  }
}

}  // namespace tempest::front
