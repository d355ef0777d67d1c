// What the front's I/O unit tests share: running an io_context until something holds, a
// connected loopback socket pair, and the test's end of a connection that collects every byte
// the front writes on it.
//
//   ASSERT_TRUE(run_until(ioc, [&] { return slot.st == job_slot::state::done; }));
//   auto [ours, theirs] = socket_pair(ioc);   // theirs goes to the code under test
//   peer p(std::move(ours));  ... run_until(ioc, [&] { return p.closed; });  p.in
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace tempest::test {

// Runs the io_context until pred() holds; false when `limit` passes first (a hang).
inline bool run_until(boost::asio::io_context& ioc, const std::function<bool()>& pred,
                      std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (ioc.stopped()) ioc.restart();
    ioc.run_one_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Two ends of one loopback TCP connection (a listener on port 0, gone once they are made).
inline std::pair<boost::asio::ip::tcp::socket, boost::asio::ip::tcp::socket> socket_pair(boost::asio::io_context& ioc) {
  using boost::asio::ip::tcp;
  tcp::acceptor listener(ioc, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket a(ioc);
  a.connect(listener.local_endpoint());
  tcp::socket b = listener.accept();
  return {std::move(a), std::move(b)};
}

// The test's end of a connection: reads from the start, appends to `in`, notes the close.
struct peer {
  boost::asio::ip::tcp::socket socket;
  std::string in;
  bool closed = false;  // EOF, a reset, or the socket closed here
  char buf[4096];

  explicit peer(boost::asio::ip::tcp::socket s) : socket(std::move(s)) { do_read(); }
  peer(const peer&) = delete;
  // The socket goes first; its read completes later (aborted), and must then touch nothing.
  ~peer() { alive_.reset(); }
  void do_read() {
    socket.async_read_some(boost::asio::buffer(buf), [this, alive = std::weak_ptr<int>(alive_)](
                                                         boost::system::error_code ec, std::size_t n) {
      if (alive.expired()) return;
      in.append(buf, n);
      if (ec) closed = true;
      else do_read();
    });
  }

 private:
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace tempest::test
