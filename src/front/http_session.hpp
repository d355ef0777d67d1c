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

struct shard;

boost::asio::awaitable<void> run_http_session(shard& sh, boost::asio::ip::tcp::socket socket);
boost::asio::awaitable<void> run_http_acceptor(shard& sh);

}  // namespace tempest::front
