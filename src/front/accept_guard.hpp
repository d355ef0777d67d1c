// What an accept loop does when accept() fails, for both listeners of a front thread (HTTP and
// answers). At the open-files limit accept() fails with EMFILE/ENFILE while the client stays
// in the listen backlog and the listener stays readable: a plain retry loop would leave the
// client hanging and log every attempt. So each loop keeps one spare descriptor: out of
// descriptors, it closes the spare, accepts the waiting client, closes it at once (the client
// sees a quick close, not a hang) and opens the spare again. The shortage is logged once per
// interval, with the number of clients closed meanwhile. Other errors: log (same rate) and
// pause briefly. --max-connections is clamped below the limit at start (front.cpp), so this
// is for descriptors taken by answer connections, Redis and files.
#pragma once
#include "core/log.hpp"
#include "front/front_stats.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace tempest::front {

class accept_guard {
 public:
  static constexpr std::chrono::seconds log_interval{10};

  // what: the listener, for the log ("HTTP", "answer"); refused: counts the clients closed
  // for lack of descriptors (may be null).
  accept_guard(std::string what, std::atomic<std::uint64_t>* refused)
      : what_(std::move(what)), refused_(refused), spare_(open_spare()) {}
  ~accept_guard() {
    if (spare_ >= 0) ::close(spare_);
  }
  accept_guard(const accept_guard&) = delete;
  accept_guard& operator=(const accept_guard&) = delete;

  // Called after a failed accept (not operation_aborted); returns when the loop may accept again.
  boost::asio::awaitable<void> failed(boost::asio::ip::tcp::acceptor& a, const boost::system::error_code& ec) {
    namespace errc = boost::system::errc;
    bool no_fds = ec == errc::too_many_files_open || ec == errc::too_many_files_open_in_system;
    if (spare_ < 0) spare_ = open_spare();
    if (no_fds && spare_ >= 0) {
      bool closed = shed_one(a);
      report(ec);
      if (closed) co_return;  // the next accept at once: more clients may be waiting
      // Linux fails accept() with EMFILE even when no client is waiting: wait for one (or
      // for a second to pass, in case its arrival raced this wait) instead of polling.
      co_await wait_for_client(a, std::chrono::seconds(1));
      co_return;
    }
    report(ec);
    boost::asio::steady_timer pause(a.get_executor(), std::chrono::milliseconds(50));
    boost::system::error_code ignored;
    co_await pause.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
  }

 private:
  static int open_spare() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

  // Until the listener is readable, or at most `bound`. Only this loop uses the acceptor, so
  // the timer may cancel it; `done` keeps a timer that fired late from cancelling the next accept.
  static boost::asio::awaitable<void> wait_for_client(boost::asio::ip::tcp::acceptor& a, std::chrono::seconds bound) {
    auto done = std::make_shared<bool>(false);
    boost::asio::steady_timer timer(a.get_executor(), bound);
    timer.async_wait([&a, done](const boost::system::error_code& e) {
      boost::system::error_code ignored;
      if (!e && !*done) a.cancel(ignored);
    });
    boost::system::error_code ignored;
    co_await a.async_wait(boost::asio::ip::tcp::acceptor::wait_read,
                          boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
    *done = true;
    timer.cancel();
  }

  // Frees the spare, takes one waiting client and closes it, takes the spare back.
  bool shed_one(boost::asio::ip::tcp::acceptor& a) {
    boost::system::error_code ignored;
    a.non_blocking(true, ignored);  // never wait in accept4 below (async accepts are unaffected)
    ::close(spare_);
    int fd = ::accept4(a.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) ::close(fd);
    spare_ = open_spare();  // may fail when another thread took the descriptor: retried later
    if (fd < 0) return false;
    ++closed_;
    if (refused_) front_stats::inc(*refused_);
    return true;
  }

  void report(const boost::system::error_code& ec) {
    auto now = std::chrono::steady_clock::now();
    if (logged_ && now - last_log_ < log_interval) return;
    log::get("front")->warn(
        "{}: accept failed: {}: new clients are closed at once while descriptors are short ({} since the last "
        "report; raise ulimit -n, or lower --max-connections); next report in {} s at the earliest",
        what_, ec.message(), closed_, log_interval.count());
    logged_ = true;
    last_log_ = now;
    closed_ = 0;
  }

  std::string what_;
  std::atomic<std::uint64_t>* refused_;
  int spare_;
  bool logged_ = false;
  std::chrono::steady_clock::time_point last_log_{};
  std::uint64_t closed_ = 0;
};

}  // namespace tempest::front
