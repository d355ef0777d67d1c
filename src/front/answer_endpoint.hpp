// The answer endpoint: a small RESP server each front thread runs, where workers deliver
// answers (as in the original Tempest). Commands (case-insensitive, RESP arrays or inline):
//   url <job_id> <json>   complete the job's HTTP request -> +OK | -ERR unknown job | -ERR invalid answer
//   AUTH [user] <password>, PING [msg], ECHO msg, INFO [section], QUIT, SELECT n, CLIENT ...
// With a password set, everything but AUTH and QUIT needs AUTH first (-NOAUTH), as in Redis.
// A message over --max-answer-size, or a protocol error, gets -ERR and the connection closes.
// Replies to pipelined commands are gathered and written once per read.
#pragma once
#include <boost/asio/awaitable.hpp>

namespace tempest::front {

struct shard;

boost::asio::awaitable<void> run_answer_acceptor(shard& sh);

}  // namespace tempest::front
