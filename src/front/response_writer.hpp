// Writes an HTTP response (a Beast message with a string body, framed by prepare_payload or a
// Content-Length) as two buffers, the head serialised into one string and the body, in one
// async_write: one sendmsg for most responses.
//
// Why not http::async_write: Beast's serializer walks a generic buffer sequence per field and
// per write step; on the request path it cost about 8,000 instructions per response (callgrind,
// 1 KiB-class answers: a fifth of the front's user-space work), this about 1,000. A chunked
// response (none is written today) still goes through Beast.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>

namespace tempest::front {

using http_response = boost::beast::http::response<boost::beast::http::string_body>;

// "HTTP/1.1 200 OK\r\n" + each field "Name: value\r\n" in order + "\r\n", appended to out.
void serialize_head(const http_response& res, std::string& out);

boost::asio::awaitable<void> write_response(boost::asio::ip::tcp::socket& socket, const http_response& res,
                                            boost::system::error_code& ec);

}  // namespace tempest::front
