// The answer endpoint: a small RESP server each front thread runs, where workers deliver
// answers (as in the original Tempest). Commands (case-insensitive, RESP arrays or inline):
//   url <job_id> <json>   complete the job's HTTP request -> +OK | -ERR unknown job | -ERR invalid answer
//   stream <job_id> <head>, chunk <job_id> <bytes>, end <job_id>
//                         a streamed answer (docs/protocol.md 10.1-10.5) -> +OK | -ERR ...
//   mchunk <ids> <bytes>, mend <ids>, murl <ids> <json>
//                         the same to many jobs at once (10.6) -> the array of the ids that did not take it
//   AUTH [user] <password>, PING [msg], ECHO msg, INFO [section], QUIT, SELECT n, CLIENT ...
// Replies to pipelined commands are gathered and written once per read.
//
// Rules (docs/protocol.md 3.3-3.6), all enforced before a byte is stored or a command runs:
//   - Every declared length is bounded first (core/resp.hpp): more than --answer-max-args items
//     in a command, a malformed header, or (before AUTH) a message over --answer-auth-max-size
//     gets "-ERR Protocol error: ..." and the connection closes. Nothing a client sends costs
//     more memory than its bytes.
//   - A message over --max-answer-size (exact, counted in RESP bytes) from an authenticated
//     client is read and dropped as it arrives: a "url" answer fails its job (the client gets
//     502, the worker "-ERR invalid answer: larger than ..."), and the commands pipelined behind
//     it still run.
//   - Anything that looks like HTTP (a method name or "HTTP/x" as a command, "Host:" and other
//     header lines) closes the connection without a reply, as Redis does: a web page can make a
//     browser POST to 127.0.0.1, and its body lines must never run as answers. After an unknown
//     command, inline commands are refused (only '*' arrays are read).
//   - A chunk that leaves its stream holding --stream-buffer unsent bytes stops the connection
//     (no command runs, nothing is read) until the HTTP side has taken them (10.4).
//   - With a password set, everything but AUTH and QUIT needs AUTH first (-NOAUTH). Passwords are
//     compared in constant time; --answer-auth-attempts wrong ones close the connection; those
//     and protocol errors are counted (INFO answer_auth_failures, answer_protocol_errors) and
//     logged at most once per 10 s per thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <span>
#include <string_view>

namespace tempest::front {

struct answer_context;

// Accepts until the acceptor is closed, one session per connection on the acceptor's executor;
// ctx and acceptor outlive them (the shard owns both; answer_context.hpp).
boost::asio::awaitable<void> run_answer_acceptor(answer_context& ctx, boost::asio::ip::tcp::acceptor& acceptor);

// Constant-time password check: the time depends only on given's length.
bool password_matches(std::string_view given, std::string_view expected);
// True for a command that is really an HTTP request line or header line.
bool looks_like_http(std::span<const std::string_view> argv);

}  // namespace tempest::front
