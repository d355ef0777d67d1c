// Writes an HTTP response as two buffers, the head serialised into one string and the body, in
// one async_write: one sendmsg for most responses. The message holds the status, the reason
// and the content headers only (a worker's, already checked: no framing header is among them,
// answer.hpp); the framing is added here from `framing`, without touching the message:
//
//   HTTP/1.1 <status> <reason>      (HTTP/1.0 for a 1.0 request)
//   <the message's fields, in order>
//   Connection: close               (1.1, not kept alive) or keep-alive (1.0, kept alive)
//   Date: <now>
//   Content-Length: <body size>     (none for 204 and 304; HEAD: the GET body's size, no body)
//
// Why not http::async_write with prepare_payload and keep_alive(): Beast's serializer walks a
// generic buffer sequence per field and per write step, and each framing setter re-reads the
// fields; on the request path that cost about 10,000 instructions a response (callgrind), this
// about 1,500.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>
#include <string_view>

namespace tempest::front {

using http_response = boost::beast::http::response<boost::beast::http::string_body>;

struct response_framing {
  bool keep_alive = true;
  bool head = false;  // a HEAD request: the headers a GET gets, no body
};

// The Date header's value, formatted at most once a second per thread.
std::string_view http_date();

// The head described above, appended to out; returns whether the body goes out.
bool serialize_head(const http_response& res, const response_framing& framing, std::string& out);

boost::asio::awaitable<void> write_response(boost::asio::ip::tcp::socket& socket, const http_response& res,
                                            const response_framing& framing, boost::system::error_code& ec);

}  // namespace tempest::front
