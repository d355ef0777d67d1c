// A loopback RESP server in a thread, for the unit tests of src/core/answer/ (client_test.cpp,
// targets_test.cpp): accepts connections one at a time, records every command it reads and
// answers each with what the test's handler returns (raw RESP bytes; "" sends nothing, like a
// hung front; close: the connection is closed after the reply).
//
//   test::resp_server s([](const auto& argv) { return test::resp_reply{"+OK\r\n"}; });
//   s.address();   // "127.0.0.1:<port>"
//   s.commands();  // every command read so far, as argv
#pragma once
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tempest::test {

struct resp_reply {
  std::string bytes;   // "": no reply
  bool close = false;  // close the connection after it
};

class resp_server {
 public:
  using handler = std::function<resp_reply(const std::vector<std::string>& argv)>;

  explicit resp_server(handler h) : handler_(std::move(h)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 8) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("cannot listen on loopback");
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~resp_server() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  resp_server(const resp_server&) = delete;
  resp_server& operator=(const resp_server&) = delete;

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::vector<std::vector<std::string>> commands() {
    std::lock_guard lock(mutex_);
    return commands_;
  }
  int connections() const { return connections_; }

 private:
  // Waits (10 ms at a time) for fd to be readable; false when stopping.
  bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    while (!stop_)
      if (::poll(&p, 1, 10) > 0) return true;
    return false;
  }

  void run() {
    while (readable(listen_fd_)) {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      ++connections_;
      serve(fd);
      ::close(fd);
    }
  }

  void serve(int fd) {
    std::unique_ptr<redisReader, decltype(&redisReaderFree)> reader(redisReaderCreate(), redisReaderFree);
    char buf[4096];
    while (readable(fd)) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) return;
      redisReaderFeed(reader.get(), buf, static_cast<std::size_t>(n));
      void* raw = nullptr;
      while (redisReaderGetReply(reader.get(), &raw) == REDIS_OK && raw) {
        auto* r = static_cast<redisReply*>(raw);
        std::vector<std::string> argv;
        for (std::size_t i = 0; i < r->elements; ++i) argv.emplace_back(r->element[i]->str, r->element[i]->len);
        freeReplyObject(r);
        resp_reply reply = handler_(argv);
        {
          std::lock_guard lock(mutex_);
          commands_.push_back(std::move(argv));
        }
        if (!reply.bytes.empty() && ::send(fd, reply.bytes.data(), reply.bytes.size(), MSG_NOSIGNAL) < 0) return;
        if (reply.close) return;
      }
    }
  }

  const handler handler_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::mutex mutex_;
  std::vector<std::vector<std::string>> commands_;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace tempest::test
