// Fuzz target: the HTTP request head checks (src/front/http_checks.hpp) behind Beast's
// request_parser, driven as src/front/http_session.cpp drives it: the front's default limits
// (--max-header-size 16k, --max-body-size 1m), bytes arriving in pieces into one buffer, the
// header read first and checked, then the body. Flags (byte 0): bit 0, the client closes after
// its bytes (put_eof).
#include "front/http_checks.hpp"

#include "fuzz_input.hpp"

#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdlib>
#include <string>

namespace http = boost::beast::http;
using tempest::errc;

namespace {

constexpr std::uint32_t max_header_size = 16 * 1024;  // the front's defaults
constexpr std::uint64_t max_body_size = 1024 * 1024;

// Feeds buffer to the parser until it needs more bytes, stops at done (which_done) or fails.
// Returns false on a parse error. Consumed bytes leave the buffer, as flat_buffer::consume.
bool put_all(http::request_parser<http::string_body>& p, std::string& buffer, bool header_only) {
  while (!buffer.empty() && !(header_only ? p.is_header_done() : p.is_done())) {
    boost::beast::error_code ec;
    std::size_t used = p.put(boost::asio::buffer(buffer.data(), buffer.size()), ec);
    if (used > buffer.size()) std::abort();
    buffer.erase(0, used);
    if (ec == http::error::need_more) return true;
    if (ec) return false;
    if (used == 0) return true;
  }
  return true;
}

void check_result(errc e) {
  switch (e) {  // only these may come out of the head checks
    case errc::none: case errc::bad_request: case errc::not_implemented: return;
    default: std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tempest::fuzz::fuzz_input in(data, size);
  http::request_parser<http::string_body> p;
  p.header_limit(max_header_size);
  p.body_limit(max_body_size);
  std::string buffer;
  bool checked = false;
  for (auto piece = in.next_chunk(); !piece.empty(); piece = in.next_chunk()) {
    buffer.append(piece);
    if (!put_all(p, buffer, !checked)) return 0;  // 400/413/431: the front closes
    if (p.is_header_done() && !checked) {
      checked = true;
      errc e = tempest::front::check_request_header(p.get().base());
      check_result(e);
      if (e != errc::none) return 0;
      if (!put_all(p, buffer, false)) return 0;
    }
    if (p.is_done()) return 0;  // one request; what follows is the next one's
  }
  if (in.flags() & 1) {
    boost::beast::error_code ec;
    p.put_eof(ec);
    if (!ec && p.is_header_done() && !checked) check_result(tempest::front::check_request_header(p.get().base()));
  }
  return 0;
}
