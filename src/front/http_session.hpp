// One HTTP/1.1 connection: read a request, turn it into a job, wait for the answer (or the
// deadline), write the response; repeat while keep-alive. Pipelined requests wait in the read
// buffer and are answered in order. Connection lifecycle:
//   idle (keepalive-timeout) -> reading header (header-timeout) -> checks -> [100 Continue]
//   -> reading body -> waiting for the answer (timeout) -> writing -> idle | closed
// Any framing error answers 4xx/501 and closes; nothing malformed becomes a job.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace tempest::front {

struct http_context;

// ctx and acceptor outlive the coroutines (the shard owns them; http_context.hpp).
boost::asio::awaitable<void> run_http_session(http_context& ctx, boost::asio::ip::tcp::socket socket);
// Accepts until the acceptor is closed or ctx.stopping, one run_http_session per connection.
boost::asio::awaitable<void> run_http_acceptor(http_context& ctx, boost::asio::ip::tcp::acceptor& acceptor);

}  // namespace tempest::front
