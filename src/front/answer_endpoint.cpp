// The answer endpoint's RESP server (see answer_endpoint.hpp for its commands and rules).
// One coroutine per connection reads with a bounded resp_reader, runs each command and writes
// the gathered replies once per read.
#include "front/answer_endpoint.hpp"

#include "core/errors.hpp"
#include "core/log.hpp"
#include "core/redis/async_client.hpp"
#include "core/resp.hpp"
#include "front/accept_guard.hpp"
#include "front/answer_context.hpp"
#include "front/front_config.hpp"
#include "front/front_stats.hpp"
#include "front/pending_jobs.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <strings.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <optional>

namespace tempest::front {

namespace asio = boost::asio;
using boost::system::error_code;

bool password_matches(std::string_view given, std::string_view expected) {
  // No early exit, and the loop runs over the given length only: the time tells neither where
  // the first difference is nor anything about the expected password but whether it is empty.
  volatile unsigned char diff = given.size() != expected.size();
  if (expected.empty()) return given.empty();
  for (std::size_t i = 0; i < given.size(); ++i)
    diff = diff | static_cast<unsigned char>(given[i] ^ expected[i % expected.size()]);
  return diff == 0;
}

bool looks_like_http(std::span<const std::string_view> argv) {
  if (argv.empty()) return false;
  std::string_view first = argv.front();
  if (!first.empty() && first.back() == ':') return true;  // a header line: "Host: 127.0.0.1"
  static constexpr std::string_view methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  for (std::string_view m : methods)
    if (first.size() == m.size() && strncasecmp(first.data(), m.data(), m.size()) == 0) return true;
  std::string_view last = argv.back();
  return argv.size() > 1 && last.size() >= 5 && strncasecmp(last.data(), "HTTP/", 5) == 0;
}

namespace {

// Events a client can repeat at will (wrong passwords, protocol errors) are logged at most once
// per interval per front thread; the line says how many were left out since the previous one.
constexpr std::chrono::seconds log_interval{10};

struct log_throttle {
  std::chrono::steady_clock::time_point next_line{};
  std::uint64_t left_out = 0;

  // The count left out since the last line when a line may be written now, else nullopt.
  std::optional<std::uint64_t> admit() {
    auto now = std::chrono::steady_clock::now();
    if (now < next_line) {
      ++left_out;
      return std::nullopt;
    }
    next_line = now + log_interval;
    return std::exchange(left_out, 0);
  }
};

thread_local log_throttle auth_log;      // each front thread runs one io_context
thread_local log_throttle protocol_log;

std::string left_out_text(std::uint64_t n) {
  if (n == 0) return "";
  return " (" + std::to_string(n) + " more like it in the last " + std::to_string(log_interval.count()) + " s not logged)";
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool is_known_command(std::string_view cmd) {
  static constexpr std::string_view known[] = {"url",  "stream", "chunk", "end",  "abort",  "mchunk", "mend",   "murl",
                                              "quit", "auth",   "ping",  "echo", "info",   "select", "client"};
  for (std::string_view c : known)
    if (iequals(cmd, c)) return true;
  return false;
}

void reply_status(std::string& out, std::string_view s) { out.append("+").append(s).append("\r\n"); }
void reply_error(std::string& out, std::string_view s) { out.append("-").append(s).append("\r\n"); }
void reply_bulk(std::string& out, std::string_view s) {
  out.append("$").append(std::to_string(s.size())).append("\r\n").append(s).append("\r\n");
}
void reply_ids(std::string& out, const std::vector<std::uint64_t>& ids) {
  out.append("*").append(std::to_string(ids.size())).append("\r\n");
  for (auto id : ids) reply_bulk(out, std::to_string(id));
}

std::optional<std::uint64_t> parse_id(std::string_view s) {
  std::uint64_t id = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return id;
}

// protocol.md 10.6: ids separated by single spaces or commas.
bool parse_id_list(std::string_view list, std::vector<std::uint64_t>& ids, std::string& why) {
  ids.clear();
  if (list.empty()) {
    why = "no id given";
    return false;
  }
  for (std::size_t at = 0;;) {
    std::size_t sep = list.find_first_of(" ,", at);
    std::string_view token = list.substr(at, sep == std::string_view::npos ? std::string_view::npos : sep - at);
    auto id = parse_id(token);
    if (!id) {
      why = "'" + std::string(token.substr(0, 32)) + "' is not a job id (decimal digits, separated by one space or comma)";
      return false;
    }
    ids.push_back(*id);
    if (sep == std::string_view::npos) return true;
    at = sep + 1;
  }
}

// The reader's limits (protocol.md 3.4): before AUTH a message must be small and may not be
// skipped over; after it, an answer over --max-answer-size is dropped as it arrives.
resp_limits endpoint_limits(const front_config& cfg, bool authed, bool accept_inline) {
  resp_limits l;
  l.commands = true;
  l.accept_inline = accept_inline;
  l.max_depth = 1;
  l.max_elements = cfg.answer_max_args;
  // Before AUTH: small, but never too small for an AUTH with the configured password.
  std::size_t before_auth = std::max<std::size_t>(cfg.answer_auth_max_size, cfg.answer_password.size() + 128);
  l.max_message = authed ? cfg.max_answer_size : std::min<std::size_t>(cfg.max_answer_size, before_auth);
  l.max_inline = std::min<std::size_t>(64 * 1024, l.max_message);
  l.skip_oversized = authed;
  return l;
}

struct answer_connection {
  answer_connection(answer_context& ctx, std::string remote, const asio::any_io_executor& ex)
      : ctx(ctx), remote(std::move(remote)), authed(ctx.cfg.answer_password.empty()),
        reader(endpoint_limits(ctx.cfg, authed, true)), room(ex) {}
  ~answer_connection() {
    for (auto id : blocked_on)
      if (job_slot* s = ctx.pending.find(id)) s->stream.forget_writer(&room);
  }
  answer_connection(const answer_connection&) = delete;
  answer_connection& operator=(const answer_connection&) = delete;

  answer_context& ctx;
  std::string remote;  // "address:port" of the peer, for log lines
  bool authed;         // no password set, or AUTH succeeded
  resp_reader reader;
  bool quit = false;   // close once the replies gathered so far are written
  int auth_failures = 0;
  std::shared_ptr<spdlog::logger> log = log::get("answer");
  // Back-pressure (protocol.md 10.4): the streams whose unsent bytes reached --stream-buffer
  // after this connection's chunks; until they shrink, it runs and reads nothing more.
  asio::steady_timer room;
  std::vector<std::uint64_t> blocked_on;
  std::vector<std::uint64_t> ids, missed;  // scratch of the m* commands

  // Handles one command, appending its reply to out.
  void handle(const resp_reader::command& c, std::string& out) {
    std::span<const std::string_view> argv = c.args;
    if (argv.empty()) return;
    if (looks_like_http(argv)) return close_for("it sent an HTTP request");  // no reply, like Redis
    if (c.skipped) return oversized(argv, out);
    std::string_view cmd = argv[0];
    if (!is_known_command(cmd)) no_more_inline();
    if (iequals(cmd, "quit")) { reply_status(out, "OK"); quit = true; return; }
    if (iequals(cmd, "auth")) return auth(argv, out);
    if (!authed) return reply_error(out, answer_error::noauth);
    if (iequals(cmd, "url")) return answer(argv, out);
    if (iequals(cmd, "chunk")) return chunk(argv, out);
    if (iequals(cmd, "stream")) return start_stream(argv, out);
    if (iequals(cmd, "end")) return end(argv, out);
    if (iequals(cmd, "abort")) return abort_stream(argv, out);
    if (iequals(cmd, "mchunk")) return many(fan::chunk, argv, out);
    if (iequals(cmd, "mend")) return many(fan::end, argv, out);
    if (iequals(cmd, "murl")) return many(fan::answer, argv, out);
    if (iequals(cmd, "ping")) {
      if (argv.size() > 1) return reply_bulk(out, argv[1]);
      return reply_status(out, "PONG");
    }
    if (iequals(cmd, "echo") && argv.size() == 2) return reply_bulk(out, argv[1]);
    if (iequals(cmd, "info")) return reply_bulk(out, info());
    if (iequals(cmd, "select") || iequals(cmd, "client")) return reply_status(out, "OK");
    reply_error(out,
                std::string(answer_error::unknown_command).append(cmd.substr(0, 64)) +
                    "' (this is a Tempest answer endpoint)");
  }

  // A connection that sent something we do not know may be a browser's POST body, or any other
  // protocol: from now on a line not starting with '*' is a protocol error (protocol.md 3.6).
  void no_more_inline() {
    if (!reader.limits().accept_inline) return;
    resp_limits l = reader.limits();
    l.accept_inline = false;
    reader.set_limits(l);
  }

  void close_for(std::string_view why) {
    front_stats::inc(ctx.stats.answer_protocol_errors);
    if (auto left_out = protocol_log.admit())
      log->warn("answer endpoint: closing the connection from {}: {}{}", remote, why, left_out_text(*left_out));
    quit = true;
  }

  void protocol_error(std::string& out) {
    reply_error(out, std::string(answer_error::protocol) + reader.error());
    close_for(reader.error());
  }

  void auth(std::span<const std::string_view> argv, std::string& out) {
    if (argv.size() < 2 || argv.size() > 3) return reply_error(out, answer_error::auth_arity);
    if (ctx.cfg.answer_password.empty())
      return reply_error(out, answer_error::auth_without_password);
    if (password_matches(argv.back(), ctx.cfg.answer_password)) {
      if (!authed) reader.set_limits(endpoint_limits(ctx.cfg, true, reader.limits().accept_inline));
      authed = true;
      return reply_status(out, "OK");
    }
    front_stats::inc(ctx.stats.answer_auth_failures);
    quit = ++auth_failures >= ctx.cfg.answer_auth_attempts;
    if (auto left_out = auth_log.admit())
      log->warn("answer endpoint: wrong password from {}{}{}", remote,
                quit ? ", closing the connection" : "", left_out_text(*left_out));
    reply_error(out, answer_error::wrong_password);
  }

  job_slot* waiting_job(std::string_view ids) {
    auto id = parse_id(ids);
    job_slot* slot = id ? ctx.pending.find(*id) : nullptr;
    return slot && slot->waiting() ? slot : nullptr;
  }
  job_slot* stream_job(std::string_view ids) {
    auto id = parse_id(ids);
    job_slot* slot = id ? ctx.pending.find(*id) : nullptr;
    return slot && slot->open_stream() ? slot : nullptr;
  }

  void unknown_job(std::string_view ids, std::string& out) {
    front_stats::inc(ctx.stats.answers_unknown);
    log->debug("[j{}] answer for an unknown or finished job", ids.substr(0, 32));
    reply_error(out, std::string(answer_error::unknown_job).append(ids.substr(0, 32)) +
                         " (answered, timed out, or not from this front)");
  }
  void no_stream(std::string_view ids, std::string& out) {
    front_stats::inc(ctx.stats.answers_unknown);
    log->debug("[j{}] stream command for no open stream", ids.substr(0, 32));
    reply_error(out, std::string(answer_error::no_stream).append(ids.substr(0, 32)).append(answer_error::no_stream_why));
  }
  void invalid(job_slot& slot, std::string_view why, std::string& out) {
    front_stats::inc(ctx.stats.answers_invalid);
    log->warn("[j{}] invalid answer from worker, client gets 502: {}", slot.id, why);
    slot.finish(errc::bad_answer);
    reply_error(out, std::string(answer_error::invalid_answer).append(why));
  }

  void answer(std::span<const std::string_view> argv, std::string& out) {
    if (argv.size() != 3) return reply_error(out, answer_error::answer_arity);
    job_slot* slot = waiting_job(argv[1]);
    if (!slot) return unknown_job(argv[1], out);
    std::string why;
    if (!parse_answer(argv[2], slot->answer, why)) return invalid(*slot, why, out);
    front_stats::inc(ctx.stats.answers_accepted);
    slot->finish(errc::none);
    reply_status(out, "OK");
  }

  // ---- streamed answers (protocol.md 10) ----------------------------------------------------

  void start_stream(std::span<const std::string_view> argv, std::string& out) {
    if (argv.size() != 3) return reply_error(out, std::string(answer_error::wrong_arity) + "stream <job_id> <head>");
    job_slot* slot = waiting_job(argv[1]);
    if (!slot) return unknown_job(argv[1], out);
    std::string why;
    std::uint64_t declared = answer_stream::no_length;
    if (!parse_answer(argv[2], slot->answer, why) || !declared_length(argv[2], declared, why))
      return invalid(*slot, why, out);
    front_stats::inc(ctx.stats.streams_started);
    front_stats::inc(ctx.stats.answers_accepted);
    slot->st = job_slot::state::streaming;
    slot->stream.reset();
    slot->stream.declared = declared;
    std::string first = std::move(slot->answer.body);  // a body in the head: the first bytes (10.1)
    slot->answer.body.clear();
    slot->wake.cancel();
    if (!append(*slot, first, out)) return;
    reply_status(out, "OK");
  }

  void chunk(std::span<const std::string_view> argv, std::string& out) {
    if (argv.size() != 3) return reply_error(out, std::string(answer_error::wrong_arity) + "chunk <job_id> <bytes>");
    job_slot* slot = stream_job(argv[1]);
    if (!slot) return no_stream(argv[1], out);
    if (append(*slot, argv[2], out)) reply_status(out, "OK");
  }

  void end(std::span<const std::string_view> argv, std::string& out) {
    if (argv.size() != 2) return reply_error(out, std::string(answer_error::wrong_arity) + "end <job_id>");
    job_slot* slot = stream_job(argv[1]);
    if (!slot) return no_stream(argv[1], out);
    if (finish_stream(*slot, out)) reply_status(out, "OK");
  }

  // 10.9: the worker gives up on its stream (its handler failed): the client gets the cut body
  // at once instead of after --stream-idle-timeout.
  void abort_stream(std::span<const std::string_view> argv, std::string& out) {
    if (argv.size() != 2) return reply_error(out, std::string(answer_error::wrong_arity) + "abort <job_id>");
    job_slot* slot = stream_job(argv[1]);
    if (!slot) return no_stream(argv[1], out);
    slot->stream.cut = slot->stream.aborted = true;
    slot->wake.cancel();
    reply_status(out, "OK");
  }

  // Takes the bytes into the stream; false after replying the error of 10.3 (a declared length
  // passed: the bytes that fit are kept, then the connection is closed).
  bool append(job_slot& slot, std::string_view bytes, std::string& out) {
    answer_stream& st = slot.stream;
    bool too_long = st.declared != answer_stream::no_length && bytes.size() > st.declared - st.received;
    if (too_long) bytes = bytes.substr(0, st.declared - st.received);
    st.bytes.append(bytes);
    st.received += bytes.size();
    if (!bytes.empty() || too_long) slot.wake.cancel();
    if (too_long) {
      st.cut = true;
      std::string n = std::to_string(st.declared);
      log->warn("[j{}] the stream sent more than its Content-Length ({} bytes): the connection is closed after them", slot.id, n);
      reply_error(out, std::string(answer_error::stream_too_long) + n + " bytes)");
      return false;
    }
    if (st.bytes.size() >= ctx.cfg.stream_buffer) {  // 10.4: read no more until it shrinks
      st.add_writer(&room);
      if (std::find(blocked_on.begin(), blocked_on.end(), slot.id) == blocked_on.end()) blocked_on.push_back(slot.id);
    }
    return true;
  }

  bool finish_stream(job_slot& slot, std::string& out) {
    answer_stream& st = slot.stream;
    slot.wake.cancel();
    if (st.declared == answer_stream::no_length || st.received == st.declared) {
      st.ended = true;
      return true;
    }
    st.cut = true;
    log->warn("[j{}] the stream ended after {} of its {} bytes (Content-Length): the connection is closed", slot.id,
              st.received, st.declared);
    reply_error(out, std::string(answer_error::stream_too_short) + std::to_string(st.received) + " of its " +
                         std::to_string(st.declared) + " bytes (Content-Length)");
    return false;
  }

  // mchunk, mend, murl (10.6): the array of the ids that did not take it.
  enum class fan { chunk, end, answer };
  void many(fan what, std::span<const std::string_view> argv, std::string& out) {
    static constexpr std::string_view usage[] = {"mchunk <ids> <bytes>", "mend <ids>", "murl <ids> <json>"};
    if (argv.size() != (what == fan::end ? 2u : 3u))
      return reply_error(out, std::string(answer_error::wrong_arity).append(usage[static_cast<int>(what)]));
    std::string why;
    if (!parse_id_list(argv[1], ids, why)) return reply_error(out, std::string(answer_error::bad_id_list) + why);
    missed.clear();
    std::string scratch;
    if (what == fan::answer) {  // one answer, parsed once
      http_answer parsed;
      if (!parse_answer(argv[2], parsed, why)) {
        for (auto id : ids)
          if (job_slot* s = ctx.pending.find(id); s && s->waiting()) invalid(*s, why, scratch);
        return reply_error(out, std::string(answer_error::invalid_answer) + why);
      }
      for (auto id : ids) {
        job_slot* s = ctx.pending.find(id);
        if (!s || !s->waiting()) {
          missed.push_back(id);
          continue;
        }
        s->answer = parsed;
        front_stats::inc(ctx.stats.answers_accepted);
        s->finish(errc::none);
      }
    } else {
      for (auto id : ids) {
        job_slot* s = ctx.pending.find(id);
        scratch.clear();
        bool took = s && s->open_stream() && (what == fan::chunk ? append(*s, argv[2], scratch) : finish_stream(*s, scratch));
        if (!took) missed.push_back(id);
      }
    }
    if (!missed.empty()) front_stats::inc(ctx.stats.answers_unknown, missed.size());
    reply_ids(out, missed);
  }

  // Until every stream this connection filled has room again (10.4).
  asio::awaitable<void> wait_for_room() {
    for (;;) {
      std::erase_if(blocked_on, [this](std::uint64_t id) {
        job_slot* s = ctx.pending.find(id);
        if (s && s->open_stream() && s->stream.bytes.size() >= ctx.cfg.stream_buffer) {
          s->stream.add_writer(&room);
          return false;
        }
        if (s) s->stream.forget_writer(&room);
        return true;
      });
      if (blocked_on.empty()) co_return;
      room.expires_at(asio::steady_timer::time_point::max());
      error_code ec;
      co_await room.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  // A message over --max-answer-size: its large bulks were dropped unread (resp_reader's
  // skip_oversized) and are empty here. An answer fails its job (502); the connection and the
  // commands behind it go on.
  void oversized(std::span<const std::string_view> argv, std::string& out) {
    std::string limit = "larger than --max-answer-size (" + std::to_string(ctx.cfg.max_answer_size) + " bytes)";
    if (iequals(argv[0], "chunk") && argv.size() == 3) {  // the stream is cut (10.8)
      if (job_slot* s = stream_job(argv[1])) {
        log->warn("[j{}] a chunk {}: the stream is cut", s->id, limit);
        s->stream.cut = true;
        s->wake.cancel();
      }
      return reply_error(out, std::string(answer_error::message_too_large) + limit);
    }
    bool is_answer = (iequals(argv[0], "url") || iequals(argv[0], "stream")) && argv.size() == 3;
    job_slot* slot = is_answer ? waiting_job(argv[1]) : nullptr;  // a skipped id is empty: no job
    if (!slot) return reply_error(out, std::string(answer_error::message_too_large) + limit);
    front_stats::inc(ctx.stats.answers_invalid);
    log->warn("[j{}] answer {}, client gets 502", slot->id, limit);
    slot->finish(errc::bad_answer);
    reply_error(out, std::string(answer_error::invalid_answer) + limit);
  }

  std::string info() const {
    std::string s = "# Server\r\nredis_version:7.0.0\r\ntempest_version:0.1.0\r\nprocess_id:" +
                    std::to_string(::getpid()) + "\r\nrespond_to:" + ctx.respond_to + "\r\n\r\n# Stats\r\n";
    s += ctx.stats.info_text();
    return s;
  }
};

std::string remote_text(const asio::ip::tcp::socket& socket) {
  error_code ec;
  auto ep = socket.remote_endpoint(ec);
  return ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
}

// True when the test seam (answer_context::faults) turns this step's success into a failure.
bool injected(const answer_context& ctx, error_code& ec, std::string_view where) {
  return ctx.faults && !ec && ctx.faults->fail(ec, where);
}

asio::awaitable<void> run_answer_session(answer_context& ctx, asio::ip::tcp::socket socket) {
  answer_connection conn(ctx, remote_text(socket), socket.get_executor());
  // 256 KiB: a streamed chunk (64 KiB from the libraries) is read in one or two calls, and
  // several per read when the worker is ahead (answer connections are few: one per lane).
  std::vector<char> buf(256 * 1024);
  std::string out;
  error_code ec;
  for (;;) {
    // Runs the commands read so far; a chunk that fills its stream (10.4) stops it there.
    while (!conn.quit && conn.blocked_on.empty()) {
      auto cmd = conn.reader.next_command();
      if (!cmd) break;
      conn.handle(*cmd, out);
    }
    if (!conn.quit && conn.blocked_on.empty() && !conn.reader.error().empty()) conn.protocol_error(out);
    if (!out.empty()) {
      co_await asio::async_write(socket, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
      if (ec || injected(ctx, ec, "write")) break;
      out.clear();
      if (out.capacity() > 64 * 1024) out.shrink_to_fit();
    }
    if (conn.quit) break;
    if (!conn.blocked_on.empty()) {
      co_await conn.wait_for_room();
      continue;
    }
    auto n = co_await socket.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (ec || injected(ctx, ec, "read")) break;  // an injected failure loses the bytes read
    conn.reader.feed(buf.data(), n);
  }
  socket.close(ec);
}

}  // namespace

asio::awaitable<void> run_answer_acceptor(answer_context& ctx, asio::ip::tcp::acceptor& acceptor) {
  accept_guard guard("answer endpoint", nullptr);  // out of descriptors: quick close, rate-limited log
  for (;;) {
    error_code ec;
    auto socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      co_await guard.failed(acceptor, ec);
      continue;
    }
    socket.set_option(asio::ip::tcp::no_delay(true), ec);
    asio::co_spawn(acceptor.get_executor(), run_answer_session(ctx, std::move(socket)), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log::get("answer")->error("answer session ended by an exception: {}", ex.what());
      }
    });
  }
}

}  // namespace tempest::front
