// Head serialisation and the one-write response (see response_writer.hpp).
#include "front/response_writer.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <charconv>

namespace tempest::front {
namespace asio = boost::asio;
namespace http = boost::beast::http;

void serialize_head(const http_response& res, std::string& out) {
  out.append(res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  char digits[8];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, res.result_int());
  out.append(digits, end);
  out.push_back(' ');
  auto reason = res.reason();
  out.append(reason.data(), reason.size());
  out.append("\r\n");
  for (const auto& f : res) {
    auto name = f.name_string();
    auto value = f.value();
    out.append(name.data(), name.size());
    out.append(": ");
    out.append(value.data(), value.size());
    out.append("\r\n");
  }
  out.append("\r\n");
}

asio::awaitable<void> write_response(asio::ip::tcp::socket& socket, const http_response& res,
                                     boost::system::error_code& ec) {
  if (res.chunked()) {
    co_await http::async_write(socket, res, asio::redirect_error(asio::use_awaitable, ec));
    co_return;
  }
  std::string head;
  head.reserve(256);
  serialize_head(res, head);
  std::array<asio::const_buffer, 2> bufs{asio::buffer(head), asio::buffer(res.body())};
  co_await asio::async_write(socket, bufs, asio::redirect_error(asio::use_awaitable, ec));
}

}  // namespace tempest::front
