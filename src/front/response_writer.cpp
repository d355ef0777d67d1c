// Head serialisation and the one-write response (see response_writer.hpp).
#include "front/response_writer.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <charconv>
#include <ctime>

namespace tempest::front {
namespace asio = boost::asio;

std::string_view http_date() {
  thread_local std::time_t last = 0;
  thread_local char buf[40];
  std::time_t now = std::time(nullptr);
  if (now != last) {
    last = now;
    std::tm tm;
    gmtime_r(&now, &tm);
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  }
  return buf;
}

namespace {
void append_number(std::string& out, std::size_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, end);
}
}  // namespace

bool serialize_head(const http_answer& res, const response_framing& framing, std::string& out) {
  bool http10 = framing.version == 10;
  out.append(http10 ? "HTTP/1.0 " : "HTTP/1.1 ");
  int status = res.status;
  append_number(out, static_cast<std::size_t>(status));
  out.push_back(' ');
  out.append(reason_phrase(status));
  out.append("\r\n");
  for (const auto& [name, value] : res.headers) {
    out.append(name);
    out.append(": ");
    out.append(value);
    out.append("\r\n");
  }
  if (!framing.keep_alive && !http10) out.append("Connection: close\r\n");
  if (framing.keep_alive && http10) out.append("Connection: keep-alive\r\n");
  out.append("Date: ");
  out.append(http_date());
  out.append("\r\n");
  bool no_body = status == 204 || status == 304;
  if (!no_body && framing.kind == response_framing::body::sized) {
    out.append("Content-Length: ");
    append_number(out, framing.length == ~std::uint64_t{0} ? res.body.size() : framing.length);
    out.append("\r\n");
  } else if (!no_body && framing.kind == response_framing::body::chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  }
  out.append("\r\n");
  return !no_body && !framing.head;
}

asio::awaitable<void> write_response(asio::ip::tcp::socket& socket, const http_answer& res,
                                     const response_framing& framing, std::string& head, boost::system::error_code& ec) {
  head.clear();
  bool with_body = serialize_head(res, framing, head);
  std::size_t body_size = with_body ? res.body.size() : 0;
  std::array<asio::const_buffer, 2> bufs{asio::buffer(head), asio::buffer(res.body.data(), body_size)};
  // The socket nearly always takes a whole response at once: on a non-blocking socket (the
  // acceptor makes every HTTP socket one) it is written here and now, with no operation object
  // and no trip through the scheduler; only a remainder waits for the socket to drain.
  if (socket.non_blocking()) {
    std::size_t n = socket.write_some(bufs, ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
    if (ec || n == head.size() + body_size) co_return;
    if (n < head.size()) bufs[0] += n;
    else bufs = {asio::const_buffer(), asio::buffer(res.body.data() + (n - head.size()), body_size - (n - head.size()))};
  }
  co_await asio::async_write(socket, bufs, asio::redirect_error(asio::use_awaitable, ec));
}

}  // namespace tempest::front
