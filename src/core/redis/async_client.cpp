// The front's asynchronous Redis client (API, guarantees and the test seam: async_client.hpp).
#include "core/redis/async_client.hpp"

#include "core/log.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace tempest::redis {

namespace asio = boost::asio;
using boost::system::error_code;
using generic_endpoint = asio::generic::stream_protocol::endpoint;

namespace {
constexpr std::size_t read_chunk = 64 * 1024;
constexpr std::size_t max_reply = 512 * 1024 * 1024;  // Redis's own bulk limit
constexpr std::chrono::milliseconds connect_timeout{1000};
constexpr std::chrono::milliseconds max_backoff{500};  // service resumes within ~0.5 s of Redis returning
}  // namespace

async_client::async_client(asio::any_io_executor ex, redis_endpoint ep, std::string name)
    : ex_(ex), ep_(std::move(ep)), name_(std::move(name)), log_(log::get("redis")),
      socket_(ex), timer_(ex), read_buf_(new char[read_chunk]) {}

async_client::~async_client() = default;

void async_client::start() {
  if (state_ != state::disconnected) return;
  do_connect();
}

void async_client::stop() {
  state_ = state::stopped;
  error_code ignored;
  timer_.cancel();
  socket_.close(ignored);
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& h : waiting) h(asio::error::operation_aborted, {});
}

void async_client::do_connect() {
  state_ = state::connecting;
  socket_ = asio::generic::stream_protocol::socket(ex_);
  reader_ = std::make_unique<resp_reader>(max_reply);
  ++gen_;
  write_in_flight_ = false;
  writing_.clear();
  auto self = shared_from_this();
  auto on_done = [this, self](error_code ec) {
    timer_.cancel();
    if (state_ == state::stopped) return;
    if (injected(ec, "connect")) {
      error_code ignored;
      socket_.close(ignored);
    }
    if (ec) {
      if (!logged_down_) {
        log_->warn("{}: cannot connect to {}: {} (retrying every {} ms at most)", name_, ep_.to_string(),
                   ec.message(), max_backoff.count());
        logged_down_ = true;
      }
      state_ = state::disconnected;
      timer_.expires_after(backoff_);
      backoff_ = std::min(backoff_ * 2, max_backoff);
      timer_.async_wait([this, self](error_code ec) {
        if (!ec && state_ == state::disconnected) do_connect();
      });
      return;
    }
    on_connected();
  };
  // The connect attempt is bounded: a host that drops packets must not stall the client.
  timer_.expires_after(connect_timeout);
  timer_.async_wait([this, self](error_code ec) {
    if (!ec && state_ == state::connecting) {
      error_code ignored;
      socket_.close(ignored);
    }
  });
  if (ep_.is_unix()) {
    asio::local::stream_protocol::endpoint le(ep_.unix_path);
    socket_.async_connect(generic_endpoint(le.data(), le.size()), on_done);
    return;
  }
  error_code ec;
  auto addr = asio::ip::make_address(ep_.host, ec);
  if (!ec) {
    asio::ip::tcp::endpoint te(addr, ep_.port);
    socket_.async_connect(generic_endpoint(te.data(), te.size()), on_done);
    return;
  }
  // A host name: resolve it each time (the address may move), then connect to the first.
  auto resolver = std::make_shared<asio::ip::tcp::resolver>(ex_);
  resolver->async_resolve(ep_.host, std::to_string(ep_.port),
                          [this, self, resolver, on_done](error_code ec, asio::ip::tcp::resolver::results_type rs) {
                            if (ec || rs.empty()) return on_done(ec ? ec : asio::error::host_not_found);
                            auto te = rs.begin()->endpoint();
                            socket_.async_connect(generic_endpoint(te.data(), te.size()), on_done);
                          });
}

void async_client::on_connected() {
  if (!ep_.is_unix()) {
    int one = 1;
    ::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  state_ = state::connected;
  backoff_ = std::chrono::milliseconds(100);
  if (logged_down_ || reconnects_ > 0) log_->info("{}: connected to {}", name_, ep_.to_string());
  logged_down_ = false;
  ++reconnects_;
  // AUTH and SELECT go first; their replies are checked like any other.
  std::string prefix;
  auto check = [this](error_code ec, resp_value v) {
    if (!ec && v.is_error()) log_->error("{}: Redis refused set-up: {}", name_, v.str);
  };
  if (!ep_.password.empty()) {
    if (ep_.user.empty()) prefix += format_command({"AUTH", ep_.password});
    else prefix += format_command({"AUTH", ep_.user, ep_.password});
    if (!push_) waiting_.push_front(check);  // in pub/sub mode the push handler sees the reply
  }
  if (ep_.db != 0 && !push_) {  // pub/sub channels are not per database
    prefix += format_command({"SELECT", std::to_string(ep_.db)});
    waiting_.push_front(check);
  }
  out_.insert(0, prefix);
  do_read();
  do_write();
  if (on_connect_) on_connect_();
}

void async_client::send(std::string wire, reply_handler h) {
  if (state_ != state::connected) {
    asio::post(ex_, [h = std::move(h)] { h(asio::error::not_connected, {}); });
    return;
  }
  out_.append(wire);
  waiting_.push_back(std::move(h));
  if (!write_in_flight_) do_write();
}

void async_client::send_push(std::string wire) {
  if (state_ != state::connected) return;
  out_.append(wire);
  if (!write_in_flight_) do_write();
}

void async_client::do_write() {
  if (write_in_flight_ || out_.empty() || state_ != state::connected) return;
  write_in_flight_ = true;
  writing_.swap(out_);
  out_.clear();
  auto self = shared_from_this();
  asio::async_write(socket_, asio::buffer(writing_), [this, self, gen = gen_](error_code ec, std::size_t) {
    if (gen != gen_) return;
    write_in_flight_ = false;
    writing_.clear();
    if (state_ != state::connected) return;
    if (ec || injected(ec, "write")) return fail(ec, "write");
    do_write();
  });
}

void async_client::do_read() {
  auto self = shared_from_this();
  socket_.async_read_some(asio::buffer(read_buf_.get(), read_chunk), [this, self, gen = gen_](error_code ec, std::size_t n) {
    if (gen != gen_ || state_ != state::connected) return;
    if (ec || injected(ec, "read")) return fail(ec, "read");
    reader_->feed(read_buf_.get(), n);
    while (auto v = reader_->next()) {
      if (push_) {
        push_(std::move(*v));
        if (state_ != state::connected) return;
        continue;
      }
      if (waiting_.empty()) return fail(asio::error::invalid_argument, "unexpected reply");
      auto h = std::move(waiting_.front());
      waiting_.pop_front();
      h({}, std::move(*v));
      if (state_ != state::connected) return;
    }
    if (!reader_->error().empty()) return fail(asio::error::invalid_argument, "protocol");
    do_read();
  });
}

void async_client::fail(error_code ec, const char* where) {
  log_->warn("{}: connection to {} lost ({}: {}); reconnecting", name_, ep_.to_string(), where, ec.message());
  logged_down_ = true;
  state_ = state::disconnected;
  error_code ignored;
  socket_.close(ignored);
  out_.clear();
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& h : waiting) h(ec ? ec : asio::error::connection_reset, {});
  if (on_disconnect_) on_disconnect_();
  auto self = shared_from_this();
  timer_.expires_after(backoff_);
  timer_.async_wait([this, self](error_code e) {
    if (!e && state_ == state::disconnected) do_connect();
  });
}

}  // namespace tempest::redis
