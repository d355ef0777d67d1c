#include "front/answer_endpoint.hpp"

#include "core/log.hpp"
#include "core/resp.hpp"
#include "front/accept_guard.hpp"
#include "front/shard.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <strings.h>
#include <unistd.h>

#include <charconv>

namespace tempest::front {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

void reply_status(std::string& out, std::string_view s) { out.append("+").append(s).append("\r\n"); }
void reply_error(std::string& out, std::string_view s) { out.append("-").append(s).append("\r\n"); }
void reply_bulk(std::string& out, std::string_view s) {
  out.append("$").append(std::to_string(s.size())).append("\r\n").append(s).append("\r\n");
}

struct answer_connection {
  shard& sh;
  bool authed;
  bool quit = false;
  std::shared_ptr<spdlog::logger> log = log::get("answer");

  // Handles one command, appending its reply to out.
  void handle(std::vector<resp_value>& argv, std::string& out) {
    if (argv.empty()) return;
    const std::string& cmd = argv[0].str;
    if (iequals(cmd, "quit")) { reply_status(out, "OK"); quit = true; return; }
    if (iequals(cmd, "auth")) return auth(argv, out);
    if (!authed) return reply_error(out, "NOAUTH Authentication required.");
    if (iequals(cmd, "url")) return answer(argv, out);
    if (iequals(cmd, "ping")) {
      if (argv.size() > 1) return reply_bulk(out, argv[1].str);
      return reply_status(out, "PONG");
    }
    if (iequals(cmd, "echo") && argv.size() == 2) return reply_bulk(out, argv[1].str);
    if (iequals(cmd, "info")) return reply_bulk(out, info());
    if (iequals(cmd, "select") || iequals(cmd, "client")) return reply_status(out, "OK");
    reply_error(out, "ERR unknown command '" + cmd.substr(0, 64) + "' (this is a Tempest answer endpoint)");
  }

  void auth(std::vector<resp_value>& argv, std::string& out) {
    if (argv.size() < 2 || argv.size() > 3) return reply_error(out, "ERR wrong number of arguments for 'auth' command");
    if (sh.cfg.answer_password.empty())
      return reply_error(out, "ERR AUTH <password> called without any password configured for the default user.");
    if (argv.back().str != sh.cfg.answer_password) {
      log->warn("answer endpoint: wrong password from a client");
      return reply_error(out, "WRONGPASS invalid username-password pair or user is disabled.");
    }
    authed = true;
    reply_status(out, "OK");
  }

  void answer(std::vector<resp_value>& argv, std::string& out) {
    if (argv.size() != 3) return reply_error(out, "ERR wrong number of arguments: url <job_id> <json>");
    std::uint64_t id = 0;
    const std::string& ids = argv[1].str;
    auto [p, ec] = std::from_chars(ids.data(), ids.data() + ids.size(), id);
    job_slot* slot = (ec == std::errc{} && p == ids.data() + ids.size()) ? sh.pending.find(id) : nullptr;
    if (!slot || slot->st == job_slot::state::done) {
      front_stats::inc(sh.stats.answers_unknown);
      log->debug("[j{}] answer for an unknown or finished job", ids);
      return reply_error(out, "ERR unknown job " + ids.substr(0, 32) + " (answered, timed out, or not from this front)");
    }
    std::string why;
    if (!parse_answer(argv[2].str, slot->answer, why)) {
      front_stats::inc(sh.stats.answers_invalid);
      log->warn("[j{}] invalid answer from worker, client gets 502: {}", id, why);
      slot->finish(errc::bad_answer);
      return reply_error(out, "ERR invalid answer: " + why);
    }
    front_stats::inc(sh.stats.answers_accepted);
    slot->finish(errc::none);
    reply_status(out, "OK");
  }

  std::string info() const {
    std::string s = "# Server\r\nredis_version:7.0.0\r\ntempest_version:0.1.0\r\nprocess_id:" +
                    std::to_string(::getpid()) + "\r\nrespond_to:" + sh.respond_to + "\r\n\r\n# Stats\r\n";
    s += sh.stats.info_text();
    return s;
  }
};

asio::awaitable<void> run_answer_session(shard& sh, asio::ip::tcp::socket socket) {
  answer_connection conn{sh, sh.cfg.answer_password.empty()};
  resp_reader reader(sh.cfg.max_answer_size, /*accept_inline=*/true);
  std::vector<char> buf(64 * 1024);
  std::string out;
  error_code ec;
  while (!conn.quit) {
    auto n = co_await socket.async_read_some(asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    reader.feed(buf.data(), n);
    while (!conn.quit) {
      auto cmd = reader.next();
      if (!cmd) break;
      if (cmd->type == resp_value::kind::array) conn.handle(cmd->elements, out);
      else reply_error(out, "ERR Protocol error: expected a command array");
    }
    if (!reader.error().empty()) {
      conn.log->warn("answer endpoint: closing a connection: {}", reader.error());
      reply_error(out, "ERR Protocol error: " + reader.error());
      conn.quit = true;
    }
    if (!out.empty()) {
      co_await asio::async_write(socket, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      out.clear();
      if (out.capacity() > 64 * 1024) out.shrink_to_fit();
    }
  }
  socket.close(ec);
}

}  // namespace

asio::awaitable<void> run_answer_acceptor(shard& sh) {
  accept_guard guard("answer endpoint", nullptr);  // out of descriptors: quick close, rate-limited log
  for (;;) {
    error_code ec;
    auto socket = co_await sh.answer_acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !sh.answer_acceptor->is_open()) co_return;
    if (ec) {
      co_await guard.failed(*sh.answer_acceptor, ec);
      continue;
    }
    socket.set_option(asio::ip::tcp::no_delay(true), ec);
    asio::co_spawn(sh.ioc, run_answer_session(sh, std::move(socket)), [](std::exception_ptr e) {
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
