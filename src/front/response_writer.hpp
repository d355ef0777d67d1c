// Writes an HTTP response as two buffers, the head serialised into one string and the body, in
// one async_write: one sendmsg for most responses. The answer holds the status and the content
// headers only (a worker's, already checked: no framing header is among them, answer.hpp); the
// reason and the framing are added here:
//
//   HTTP/1.1 <status> <reason>      (HTTP/1.0 for a 1.0 request)
//   <the answer's headers, in order>
//   Connection: close               (1.1, not kept alive) or keep-alive (1.0, kept alive)
//   Date: <now>
//   Content-Length: <body size>     (none for 204 and 304; HEAD: the GET body's size, no body)
// A streamed answer (protocol.md 10.3) instead gets the Content-Length its head declared,
// Transfer-Encoding: chunked, or neither (HTTP/1.0: the body ends when the connection does).
//
// Why not a Beast message and http::async_write: Beast's serializer walks a generic buffer
// sequence per field and per write step, and each framing setter re-reads the fields; on the
// request path that cost about 10,000 instructions a response (callgrind). Building the
// message's fields alone cost an allocation a header; this writes the answer as it is.
#pragma once
#include "front/answer.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace tempest::front {

struct response_framing {
  enum class body { sized, chunked, until_close };
  unsigned version = 11;  // the request's: 10 or 11
  bool keep_alive = true;
  bool head = false;  // a HEAD request: the headers a GET gets, no body
  body kind = body::sized;
  std::uint64_t length = ~std::uint64_t{0};  // sized: the Content-Length; all ones: the answer's body size
};

// The Date header's value, formatted at most once a second per thread.
std::string_view http_date();

// The head described above, appended to out; returns whether the body goes out.
bool serialize_head(const http_answer& res, const response_framing& framing, std::string& out);

// Writes res; `head` is the caller's scratch string for the head (kept so that its capacity
// is reused from one response to the next).
boost::asio::awaitable<void> write_response(boost::asio::ip::tcp::socket& socket, const http_answer& res,
                                            const response_framing& framing, std::string& head,
                                            boost::system::error_code& ec);

}  // namespace tempest::front
