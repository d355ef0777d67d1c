// sse_load: the Server-Sent Events load client of bench/run. Opens N SSE connections to the
// front, measures what idle subscribers cost it, publishes M messages on Redis and measures how
// long each takes to reach each subscriber.
//
//   sse_load --url http://127.0.0.1:8080/sub/bench --redis redis://127.0.0.1:6379/0
//            --connections 10000 --front-pid PID [--messages 100] [--rate 10] [--json]
//
// Phases (the whole run is bounded by --timeout):
//   connect   the children open their share of the N connections (--connect-parallel
//             handshakes in flight each); one counts as connected when the first line of its
//             stream (`retry: ...`) arrived
//   settle    1 s, then the front's RSS (/proc/<front-pid>/status VmRSS) against the RSS
//             before connecting -> KiB per idle subscriber; Redis INFO clients
//   publish   M x `PUBLISH <channel> ["<t>"]` at --rate per second, t = CLOCK_MONOTONIC in ns
//             at the send (a bare PUBLISH: live only, the front sends `data: <t>`)
//   drain     until every connected subscriber got every message, at most --drain seconds
// Each `data: <t>` line received gives one latency sample, now - t (microseconds).
//
// Processes: a process can hold at most its hard RLIMIT_NOFILE of descriptors, and raising the
// hard limit takes CAP_SYS_RESOURCE. So the connections are split over ceil(N / per-process)
// forked children (per-process default: hard limit - 100); the parent only publishes and
// counts. Children write counters and samples into one shared anonymous mapping (per child: a
// child_slot and its sample array); the parent reads them, and tells them to stop through it.
//
// Source addresses: one source address has one ephemeral port range towards one destination,
// so connection g binds 127.0.0.(1 + g / per-address) before connecting (IP_BIND_ADDRESS_NO_PORT;
// per-address default: the port range size - 1000).
//
// Output: a table (header + one row) on stdout; with --json the table goes to stderr and one
// JSON object goes to stdout (bench/run reads it; keys in print_json). Progress on stderr.
// Exit status: 0 the run happened (whatever the numbers), 1 could not set up (Redis, fork,
// front pid), 2 bad usage.
#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/redis/blocking_client.hpp"
#include "core/json_writer.hpp"
#include "core/redis_url.hpp"

namespace {

using namespace std::chrono_literals;

constexpr std::size_t max_header_bytes = 16 * 1024;
constexpr std::size_t max_line_bytes = 64 * 1024;
constexpr int epoll_batch = 1024;
constexpr int loop_tick_ms = 20;  // how often children look at the stop flag

std::int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void die(int code, const std::string& msg) {
  std::fprintf(stderr, "sse_load: %s\n", msg.c_str());
  std::exit(code);
}

// ---- settings -------------------------------------------------------------------------------

struct settings {
  std::string url;
  std::string redis;
  std::string channel;  // default: the last path segment of url (first of a,b)
  long connections = 1000;
  long front_pid = 0;   // 0: no RSS measurement
  long messages = 100;
  double rate = 10;
  double timeout_s = 60;
  double drain_s = 10;
  long per_process = 0;  // 0: hard RLIMIT_NOFILE - 100
  long per_address = 0;  // 0: ephemeral port range size - 1000
  long connect_parallel = 256;
  bool json = false;
  bool quiet = false;
  // From url:
  sockaddr_in target{};
  std::string host_header;
  std::string path;
};

void parse_url(settings& s) {
  std::string_view u = s.url;
  if (!u.starts_with("http://")) die(2, "--url must start with http:// (got '" + s.url + "')");
  u.remove_prefix(7);
  auto slash = u.find('/');
  std::string_view authority = u.substr(0, slash);
  s.path = slash == std::string_view::npos ? "/" : std::string(u.substr(slash));
  s.host_header = std::string(authority);
  std::string host;
  std::uint16_t port = 80;
  if (authority.find(':') != std::string_view::npos) {
    try {
      tempest::split_host_port(authority, host, port);
    } catch (const std::invalid_argument& e) {
      die(2, std::string("--url: ") + e.what());
    }
  } else {
    host = authority;
  }
  if (host == "localhost") host = "127.0.0.1";
  s.target.sin_family = AF_INET;
  s.target.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &s.target.sin_addr) != 1)
    die(2, "--url: '" + host + "' is not an IPv4 address");
  if ((ntohl(s.target.sin_addr.s_addr) >> 24) != 127) die(2, "--url: loopback addresses (127.x.x.x) only");
  if (s.channel.empty()) {
    std::string_view p = s.path;
    p = p.substr(0, p.find('?'));
    p = p.substr(p.rfind('/') + 1);
    s.channel = std::string(p.substr(0, p.find(',')));
    if (s.channel.empty()) die(2, "--url has no channel at the end of its path; give --channel");
  }
}

settings parse_settings(int argc, char** argv) {
  settings s;
  if (const char* env = std::getenv("TEMPEST_REDIS"); env && *env) s.redis = env;
  else s.redis = "redis://127.0.0.1:6379/0";
  CLI::App app{"sse_load: N Server-Sent Events subscribers against a Tempest front; latency and memory"};
  app.add_option("--url", s.url, "SSE URL of the front, e.g. http://127.0.0.1:8080/sub/bench")->required();
  app.add_option("-n,--connections", s.connections, "subscribers to open")->capture_default_str()->check(CLI::Range(1L, 10'000'000L));
  app.add_option("--redis", s.redis, "Redis the front uses (PUBLISH, INFO) [default: $TEMPEST_REDIS, else redis://127.0.0.1:6379/0]");
  app.add_option("--channel", s.channel, "channel to PUBLISH on [default: the end of --url's path]");
  app.add_option("--front-pid", s.front_pid, "the front's pid, for its RSS (/proc/PID/status)")->check(CLI::PositiveNumber);
  app.add_option("--messages", s.messages, "messages to publish")->capture_default_str()->check(CLI::Range(0L, 10'000'000L));
  app.add_option("--rate", s.rate, "messages per second")->capture_default_str()->check(CLI::Range(0.01, 1e6));
  app.add_option("--timeout", s.timeout_s, "bound on the whole run, seconds")->capture_default_str()->check(CLI::Range(1.0, 86400.0));
  app.add_option("--drain", s.drain_s, "wait after the last PUBLISH for late deliveries, seconds")->capture_default_str()->check(CLI::Range(0.0, 3600.0));
  app.add_option("--per-process", s.per_process, "connections per child process [default: hard RLIMIT_NOFILE - 100]")->check(CLI::PositiveNumber);
  app.add_option("--per-address", s.per_address, "connections per source address 127.0.0.x [default: ephemeral port range - 1000]")->check(CLI::PositiveNumber);
  app.add_option("--connect-parallel", s.connect_parallel, "handshakes in flight per process")->capture_default_str()->check(CLI::Range(1L, 100000L));
  app.add_flag("--json", s.json, "one JSON object on stdout (the table goes to stderr)");
  app.add_flag("-q,--quiet", s.quiet, "no progress lines on stderr");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    std::exit(0);
  } catch (const CLI::ParseError& e) {
    die(2, std::string(e.what()) + " (see --help)");
  }
  parse_url(s);
  return s;
}

// ---- system facts ---------------------------------------------------------------------------

// VmRSS of a process in KiB, or nullopt when it cannot be read.
std::optional<long> vmrss_kib(long pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.starts_with("VmRSS:")) return std::strtol(line.c_str() + 6, nullptr, 10);
  return std::nullopt;
}

// The soft "Max open files" of a process, or 0 when unknown.
long nofile_of(long pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(f, line))
    if (line.starts_with("Max open files")) return std::strtol(line.c_str() + 14, nullptr, 10);
  return 0;
}

long ephemeral_ports() {
  std::ifstream f("/proc/sys/net/ipv4/ip_local_port_range");
  long lo = 0, hi = 0;
  if (f >> lo >> hi && hi > lo) return hi - lo + 1;
  return 28232;  // Linux's default 32768-60999
}

// Soft RLIMIT_NOFILE raised to the hard one; returns the hard limit.
long raise_nofile() {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  if (r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
  return r.rlim_max == RLIM_INFINITY ? 1 << 20 : static_cast<long>(r.rlim_max);
}

// ---- Redis (parent only) --------------------------------------------------------------------

using tempest::reply_ptr;
using tempest::redis::blocking_client;

// Connects (AUTH, SELECT: core/redis/blocking_client.hpp) or exits 1 (2: a bad --redis).
blocking_client connect_redis(const std::string& url) {
  tempest::redis_endpoint ep;
  try {
    ep = tempest::parse_redis_url(url);
  } catch (const std::invalid_argument& e) {
    die(2, std::string("--redis: ") + e.what());
  }
  blocking_client c(ep, {std::chrono::seconds(2), std::chrono::seconds(5)});
  try {
    c.connect();
  } catch (const std::runtime_error& e) {
    die(1, e.what());
  }
  return c;
}

// connected_clients from INFO clients, or -1.
long redis_clients(blocking_client& c) {
  reply_ptr r;
  try {
    r = c.command({"INFO", "clients"});
  } catch (const tempest::redis::io_error&) {
    return -1;
  }
  if (r->type != REDIS_REPLY_STRING) return -1;
  std::string_view text(r->str, r->len);
  auto at = text.find("connected_clients:");
  return at == std::string_view::npos ? -1 : std::strtol(r->str + at + 18, nullptr, 10);
}

// ---- shared memory between the parent and the children --------------------------------------

// One per child, in the shared mapping; written by the child (atomically: the parent polls),
// stop written by the parent.
struct child_slot {
  std::int64_t connected;         // streams whose first line arrived
  std::int64_t failed;            // connections that never got there (refused, non-200 ...)
  std::int64_t closed;            // connected, then closed by the front
  std::int64_t received;          // `data: <t>` lines
  std::int64_t other_lines;       // data lines that are not a timestamp
  std::int64_t unexpected_start;  // streams whose first line was not `retry:`
  std::int64_t samples;           // latency samples stored (<= capacity)
  std::int64_t last_connect_ns;   // when the last stream started
  std::int64_t stop;              // set by the parent: exit now
  std::int64_t error_set;         // first_error is written
  char first_error[240];          // the first failure, for the report
};

std::int64_t load(std::int64_t& v) {
  return std::atomic_ref<std::int64_t>(v).load(std::memory_order_acquire);
}
void store(std::int64_t& v, std::int64_t x) { std::atomic_ref<std::int64_t>(v).store(x, std::memory_order_release); }
void bump(std::int64_t& v) { std::atomic_ref<std::int64_t>(v).fetch_add(1, std::memory_order_relaxed); }

// The mapping: [slots...][samples of child 0][samples of child 1]...
class shared_area {
 public:
  shared_area(std::size_t children, const std::vector<std::size_t>& capacity) : slots_(children) {
    std::size_t bytes = children * sizeof(child_slot);
    for (auto c : capacity) {
      offsets_.push_back(bytes);
      bytes += c * sizeof(std::uint32_t);
    }
    size_ = std::max<std::size_t>(bytes, 1);
    base_ = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base_ == MAP_FAILED) die(1, std::string("mmap: ") + std::strerror(errno));
  }
  ~shared_area() { munmap(base_, size_); }
  shared_area(const shared_area&) = delete;
  shared_area& operator=(const shared_area&) = delete;

  child_slot& slot(std::size_t i) { return static_cast<child_slot*>(base_)[i]; }
  std::uint32_t* samples(std::size_t i) { return reinterpret_cast<std::uint32_t*>(static_cast<char*>(base_) + offsets_[i]); }
  std::size_t children() const { return slots_; }

 private:
  std::size_t slots_;
  std::vector<std::size_t> offsets_;
  std::size_t size_ = 0;
  void* base_ = nullptr;
};

// ---- a child: its share of the connections, one epoll loop ----------------------------------

// Connection states (all transitions in sse_client):
//   idle --open--> connecting --writable, request written--> headers --200 + blank line-->
//   streaming (connected at its first line) --EOF/error--> done
//   any state before the first stream line --error, non-200, EOF--> done (failed)
class sse_client {
 public:
  sse_client(const settings& s, child_slot& slot, std::uint32_t* samples, std::size_t capacity,
             std::size_t first, std::size_t count)
      : s_(s), slot_(slot), samples_(samples), capacity_(capacity), first_(first), conns_(count) {
    request_ = fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n",
                           s.path, s.host_header);
    per_address_ = static_cast<std::size_t>(s.per_address);
  }

  int run() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) return error("epoll_create1", errno), 1;
    epoll_event events[epoll_batch];
    while (!load(slot_.stop)) {
      open_more();
      int n = epoll_wait(ep_, events, epoll_batch, loop_tick_ms);
      if (n < 0 && errno != EINTR) return error("epoll_wait", errno), 1;
      for (int i = 0; i < n; ++i) on_event(events[i].data.u64, events[i].events);
    }
    return 0;  // the process exits: the kernel closes the sockets
  }

 private:
  enum class state : std::uint8_t { idle, connecting, headers, streaming, done };
  struct conn {
    int fd = -1;
    state st = state::idle;
    bool started = false;  // the stream's first line arrived (counted as connected)
    std::string buf;  // headers so far, or the partial last line of the stream
  };

  void open_more() {
    while (in_flight_ < static_cast<std::size_t>(s_.connect_parallel) && next_ < conns_.size() && !load(slot_.stop))
      open(next_++);
  }

  void open(std::size_t i) {
    conn& c = conns_[i];
    ++in_flight_;
    c.st = state::connecting;
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return fail(c, "socket", errno);
    int one = 1;
    setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000001u + static_cast<std::uint32_t>((first_ + i) / per_address_));
    if (bind(c.fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) return fail(c, "bind", errno);
    if (connect(c.fd, reinterpret_cast<const sockaddr*>(&s_.target), sizeof s_.target) != 0 && errno != EINPROGRESS)
      return fail(c, "connect", errno);
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u64 = i;
    if (epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev) != 0) return fail(c, "epoll_ctl", errno);
  }

  void on_event(std::size_t i, std::uint32_t events) {
    conn& c = conns_[i];
    if (c.st == state::connecting) return on_writable(c, i);
    if (c.st == state::headers || c.st == state::streaming) on_readable(c);
  }

  void on_writable(conn& c, std::size_t i) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return fail(c, "connect", err);
    // A fresh socket's send buffer takes the ~100-byte request whole.
    ssize_t n = send(c.fd, request_.data(), request_.size(), MSG_NOSIGNAL);
    if (n != static_cast<ssize_t>(request_.size())) return fail(c, "send", n < 0 ? errno : EAGAIN);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = i;
    if (epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev) != 0) return fail(c, "epoll_ctl", errno);
    c.st = state::headers;
  }

  void on_readable(conn& c) {
    for (;;) {
      ssize_t n = read(c.fd, rbuf_, sizeof rbuf_);
      if (n > 0) {
        consume(c, std::string_view(rbuf_, static_cast<std::size_t>(n)), now_ns());
        if (c.st == state::done || static_cast<std::size_t>(n) < sizeof rbuf_) return;
        continue;
      }
      if (n == 0) return ended(c, "the front closed the connection", 0);
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) ended(c, "read", errno);
      return;
    }
  }

  void consume(conn& c, std::string_view bytes, std::int64_t now) {
    if (c.st == state::streaming) return consume_stream(c, bytes, now);
    c.buf.append(bytes);
    auto end = c.buf.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c.buf.size() > max_header_bytes) fail(c, "response headers over 16 KiB", 0);
      return;
    }
    std::string_view head(c.buf.data(), end);
    std::string_view status = head.substr(0, head.find("\r\n"));
    if (!(status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.0 200")))
      return fail(c, fmt::format("answered '{:.100}'", status), 0);
    std::string lower(head);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
    if (lower.find("transfer-encoding: chunked") != std::string::npos)
      return fail(c, "chunked response (sse_load reads close-delimited streams only)", 0);
    std::string rest = c.buf.substr(end + 4);
    c.buf.clear();
    c.st = state::streaming;
    consume_stream(c, rest, now);
  }

  void consume_stream(conn& c, std::string_view data, std::int64_t now) {
    if (!c.buf.empty()) {  // the partial line of the previous read
      auto nl = data.find('\n');
      if (nl == std::string_view::npos) {
        c.buf.append(data);
        if (c.buf.size() > max_line_bytes) ended(c, "a stream line over 64 KiB", 0);
        return;
      }
      c.buf.append(data.substr(0, nl));
      on_line(c, c.buf, now);
      c.buf.clear();
      data.remove_prefix(nl + 1);
    }
    while (!data.empty()) {
      auto nl = data.find('\n');
      if (nl == std::string_view::npos) {
        c.buf.assign(data);
        return;
      }
      on_line(c, data.substr(0, nl), now);
      data.remove_prefix(nl + 1);
    }
  }

  void on_line(conn& c, std::string_view line, std::int64_t now) {
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (!c.started) {  // the first line of the stream: connected
      c.started = true;
      --in_flight_;
      bump(slot_.connected);
      store(slot_.last_connect_ns, now);
      if (!line.starts_with("retry:")) bump(slot_.unexpected_start);
    }
    if (!line.starts_with("data:")) return;
    line.remove_prefix(5);
    if (line.starts_with(' ')) line.remove_prefix(1);
    std::int64_t sent = 0;
    auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), sent);
    if (ec != std::errc{} || end != line.data() + line.size()) {
      bump(slot_.other_lines);
      return;
    }
    bump(slot_.received);
    std::int64_t n = slot_.samples;  // only this process writes it
    if (static_cast<std::size_t>(n) < capacity_) {
      std::int64_t us = std::max<std::int64_t>(0, (now - sent) / 1000);
      samples_[n] = static_cast<std::uint32_t>(std::min<std::int64_t>(us, UINT32_MAX));
      store(slot_.samples, n + 1);
    }
  }

  // A connection that ended: closed if it had started, else failed.
  void ended(conn& c, const char* what, int err) {
    if (c.started) {
      bump(slot_.closed);
      close_conn(c);
      return;
    }
    fail(c, what, err);
  }

  void fail(conn& c, const std::string& what, int err) {
    bump(slot_.failed);
    --in_flight_;
    if (!load(slot_.error_set)) error(what, err);
    close_conn(c);
  }

  void close_conn(conn& c) {
    if (c.fd >= 0) close(c.fd);  // also leaves the epoll set
    c.fd = -1;
    c.st = state::done;
    std::string().swap(c.buf);
  }

  void error(const std::string& what, int err) {
    std::string msg = err ? what + ": " + std::strerror(err) : what;
    std::snprintf(slot_.first_error, sizeof slot_.first_error, "%s", msg.c_str());
    store(slot_.error_set, 1);
  }

  const settings& s_;
  child_slot& slot_;
  std::uint32_t* samples_;
  std::size_t capacity_;
  std::size_t first_;  // global index of conns_[0] (picks the source address)
  std::size_t per_address_ = 1;
  std::vector<conn> conns_;
  std::size_t next_ = 0;       // next connection to open
  std::size_t in_flight_ = 0;  // opened, first line not yet arrived
  std::string request_;
  int ep_ = -1;
  char rbuf_[64 * 1024];
};

// ---- the parent ------------------------------------------------------------------------------

struct totals {
  std::int64_t connected = 0, failed = 0, closed = 0, received = 0, other_lines = 0, unexpected_start = 0;
  std::int64_t last_connect_ns = 0;
  std::string first_error;
};

totals sum(shared_area& area) {
  totals t;
  for (std::size_t i = 0; i < area.children(); ++i) {
    child_slot& s = area.slot(i);
    t.connected += load(s.connected);
    t.failed += load(s.failed);
    t.closed += load(s.closed);
    t.received += load(s.received);
    t.other_lines += load(s.other_lines);
    t.unexpected_start += load(s.unexpected_start);
    t.last_connect_ns = std::max(t.last_connect_ns, load(s.last_connect_ns));
    if (t.first_error.empty() && load(s.error_set)) t.first_error = s.first_error;
  }
  return t;
}

struct result {
  long n = 0;
  totals t;
  std::int64_t expected = 0;
  long messages = 0;   // asked for
  long published = 0;
  long long min_receivers = -1;  // PUBLISH replies: front subscriber connections on the channel
  std::vector<std::uint32_t> samples_us;
  std::optional<long> rss_before, rss_after;
  long redis_clients_before = -1, redis_clients = -1;
  std::size_t processes = 0, addresses = 0, per_process = 0;
  long nofile_hard = 0;
  double connect_s = 0;
  bool timed_out = false;
  double p50_ms = -1, p99_ms = -1, max_ms = -1;  // -1: no sample
  std::vector<std::string> notes;

  std::optional<double> kib_per_subscriber() const {
    if (!rss_before || !rss_after || t.connected == 0) return std::nullopt;
    return double(*rss_after - *rss_before) / double(t.connected);
  }
};

void log_progress(const settings& s, const std::string& msg) {
  if (!s.quiet) std::fprintf(stderr, "[sse_load] %s\n", msg.c_str());
}

// Starts the children; returns their pids. A child never returns from here.
std::vector<pid_t> start_children(const settings& s, shared_area& area, const std::vector<std::size_t>& shares,
                                  const std::vector<std::size_t>& capacity) {
  std::vector<pid_t> pids;
  std::size_t first = 0;
  for (std::size_t i = 0; i < shares.size(); ++i) {
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
      for (auto p : pids) kill(p, SIGKILL);
      die(1, std::string("fork: ") + std::strerror(errno));
    }
    if (pid == 0) {
      sse_client client(s, area.slot(i), area.samples(i), capacity[i], first, shares[i]);
      _exit(client.run());
    }
    pids.push_back(pid);
    first += shares[i];
  }
  return pids;
}

bool children_alive(std::vector<pid_t>& pids, result& r) {
  for (auto& p : pids) {
    if (p <= 0) continue;
    int status = 0;
    if (waitpid(p, &status, WNOHANG) == p) {
      r.notes.push_back(fmt::format("a child process (pid {}) exited early ({})", p,
                                    WIFSIGNALED(status) ? fmt::format("signal {}", WTERMSIG(status))
                                                        : fmt::format("status {}", WEXITSTATUS(status))));
      p = -1;
      return false;
    }
  }
  return true;
}

void stop_children(shared_area& area, std::vector<pid_t>& pids) {
  for (std::size_t i = 0; i < area.children(); ++i) store(area.slot(i).stop, 1);
  auto until = std::chrono::steady_clock::now() + 3s;
  for (auto& p : pids) {
    while (p > 0) {
      if (waitpid(p, nullptr, WNOHANG) == p) break;
      if (std::chrono::steady_clock::now() > until) {
        kill(p, SIGKILL);
        waitpid(p, nullptr, 0);
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    p = -1;
  }
}

double pct_ms(std::vector<std::uint32_t>& v, double q) {
  if (v.empty()) return -1;
  std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k] / 1000.0;
}

std::string fmt_ms(double ms) {
  if (ms < 0) return "-";
  if (ms < 1) return fmt::format("{:.0f}us", ms * 1000);
  if (ms < 1000) return fmt::format("{:.2f}ms", ms);
  return fmt::format("{:.2f}s", ms / 1000);
}

void print_table(const result& r, FILE* out) {
  auto k = r.kib_per_subscriber();
  std::string kib = k ? fmt::format("{:.2f}", *k) : "-";
  std::string header = fmt::format("{:>8}  {:>9}  {:>20}  {:>8}  {:>8}  {:>8}  {:>12}  {:>13}", "N", "connected",
                                   "delivered/expected", "p50", "p99", "max", "KiB/sub", "redis clients");
  std::string row = fmt::format("{:>8}  {:>9}  {:>20}  {:>8}  {:>8}  {:>8}  {:>12}  {:>13}", r.n, r.t.connected,
                                fmt::format("{}/{}", r.t.received, r.expected), fmt_ms(r.p50_ms), fmt_ms(r.p99_ms), fmt_ms(r.max_ms),
                                kib, r.redis_clients);
  std::fprintf(out, "%s\n%s\n", header.c_str(), row.c_str());
  std::fprintf(out, "  %zu process%s (<= %zu connections each: hard RLIMIT_NOFILE %ld), %zu source address%s, "
               "connected in %.2fs, %ld/%ld messages published",
               r.processes, r.processes == 1 ? "" : "es", r.per_process, r.nofile_hard, r.addresses,
               r.addresses == 1 ? "" : "es", r.connect_s, r.published, r.messages);
  if (r.t.failed) std::fprintf(out, ", %lld failed (first: %s)", static_cast<long long>(r.t.failed), r.t.first_error.c_str());
  if (r.t.closed) std::fprintf(out, ", %lld closed by the front", static_cast<long long>(r.t.closed));
  if (r.timed_out) std::fprintf(out, ", TIMED OUT");
  std::fprintf(out, "\n");
  for (const auto& n : r.notes) std::fprintf(out, "  note: %s\n", n.c_str());
}

void print_json(const result& r) {
  std::string out;
  tempest::json_writer w(out);
  auto num = [&](const char* k, std::int64_t v) { w.key(k); w.number(v); };
  auto ms = [&](const char* k, double v) {
    w.key(k);
    if (v < 0) w.null();
    else w.raw(fmt::format("{:.3f}", v));
  };
  auto opt = [&](const char* k, std::optional<long> v) {
    w.key(k);
    if (v) w.number(*v);
    else w.null();
  };
  w.begin_object();
  num("n", r.n);
  num("connected", r.t.connected);
  num("failed", r.t.failed);
  num("closed", r.t.closed);
  num("delivered", r.t.received);
  num("expected", r.expected);
  num("messages_published", r.published);
  num("other_data_lines", r.t.other_lines);
  num("unexpected_start", r.t.unexpected_start);
  ms("p50_ms", r.p50_ms);
  ms("p99_ms", r.p99_ms);
  ms("max_ms", r.max_ms);
  opt("rss_before_kib", r.rss_before);
  opt("rss_after_kib", r.rss_after);
  w.key("kib_per_subscriber");
  if (auto k = r.kib_per_subscriber()) w.raw(fmt::format("{:.3f}", *k));
  else w.null();
  num("redis_clients_before", r.redis_clients_before);
  num("redis_clients", r.redis_clients);
  num("publish_receivers_min", r.min_receivers);
  num("processes", static_cast<std::int64_t>(r.processes));
  num("per_process", static_cast<std::int64_t>(r.per_process));
  num("nofile_hard", r.nofile_hard);
  num("source_addresses", static_cast<std::int64_t>(r.addresses));
  w.key("connect_s");
  w.raw(fmt::format("{:.3f}", r.connect_s));
  w.key("timed_out");
  w.boolean(r.timed_out);
  w.key("first_error");
  if (r.t.first_error.empty()) w.null();
  else w.string(r.t.first_error);
  w.key("notes");
  w.begin_array();
  for (const auto& n : r.notes) w.string(n);
  w.end_array();
  w.end_object();
  std::printf("%s\n", out.c_str());
}

using steady = std::chrono::steady_clock;

steady::duration seconds(double s) { return std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(s)); }
bool past(steady::time_point t) { return steady::now() >= t; }

// The parent: plans the split, starts the children, runs the phases (see the top of the file).
class load_run {
 public:
  explicit load_run(settings s) : s_(std::move(s)), deadline_(steady::now() + seconds(s_.timeout_s)) {
    r_.n = s_.connections;
    r_.messages = s_.messages;
  }

  int run() {
    plan();
    std::signal(SIGPIPE, SIG_IGN);
    redis_ = connect_redis(s_.redis);
    r_.redis_clients_before = redis_clients(*redis_);
    look_at_front();
    shared_area area(r_.processes, capacity_);
    pids_ = start_children(s_, area, shares_, capacity_);
    connect_phase(area);
    std::this_thread::sleep_for(1s);  // settle, then measure
    if (s_.front_pid) r_.rss_after = vmrss_kib(s_.front_pid);
    r_.redis_clients = redis_clients(*redis_);
    publish_phase(area);
    drain_phase(area);
    stop_children(area, pids_);
    collect(area);
    if (s_.json) {
      print_table(r_, stderr);
      print_json(r_);
    } else {
      print_table(r_, stdout);
    }
    return 0;
  }

 private:
  // Processes (descriptors per process) and source addresses (ports per address).
  void plan() {
    r_.nofile_hard = raise_nofile();
    if (s_.per_process > r_.nofile_hard - 20)
      die(2, fmt::format("--per-process {} exceeds what the hard RLIMIT_NOFILE ({}) allows", s_.per_process, r_.nofile_hard));
    r_.per_process = static_cast<std::size_t>(s_.per_process > 0 ? s_.per_process : std::max(1L, r_.nofile_hard - 100));
    if (s_.per_address == 0) s_.per_address = std::max(1000L, ephemeral_ports() - 1000);
    auto n = static_cast<std::size_t>(s_.connections);
    r_.addresses = (n + static_cast<std::size_t>(s_.per_address) - 1) / static_cast<std::size_t>(s_.per_address);
    if (r_.addresses > 254) die(2, "too many connections for the source addresses 127.0.0.1-254");
    r_.processes = (n + r_.per_process - 1) / r_.per_process;
    shares_.assign(r_.processes, n / r_.processes);
    for (std::size_t i = 0; i < n % r_.processes; ++i) ++shares_[i];
    for (auto share : shares_) capacity_.push_back(share * static_cast<std::size_t>(s_.messages));
    if (r_.processes > 1)
      log_progress(s_, fmt::format("{} connections over {} processes (a process holds at most ~{}: hard RLIMIT_NOFILE {})",
                                   n, r_.processes, r_.per_process, r_.nofile_hard));
  }

  void look_at_front() {
    if (!s_.front_pid) return;
    r_.rss_before = vmrss_kib(s_.front_pid);
    if (!r_.rss_before) die(1, fmt::format("--front-pid {}: no such process (cannot read /proc/{}/status)", s_.front_pid, s_.front_pid));
    long front_nofile = nofile_of(s_.front_pid);
    if (front_nofile > 0 && s_.connections > front_nofile - 50)
      r_.notes.push_back(fmt::format("the front's open-files limit is {}: it cannot hold {} connections", front_nofile, s_.connections));
  }

  // Until every connection is connected or failed, leaving time for the other phases.
  void connect_phase(shared_area& area) {
    auto start = steady::now();
    double later_s = s_.messages / s_.rate + std::min(s_.drain_s, 5.0) + 1.5;
    auto until = std::max(start + seconds(s_.timeout_s / 4), deadline_ - seconds(later_s));
    auto next_log = start + 1s;
    for (;;) {
      totals t = sum(area);
      if (t.connected + t.failed >= s_.connections || !(alive_ = children_alive(pids_, r_))) break;
      if (past(until)) {
        r_.notes.push_back(fmt::format("connect phase ended after {:.1f}s with {} of {} connected",
                                       std::chrono::duration<double>(steady::now() - start).count(), t.connected, s_.connections));
        break;
      }
      if (past(next_log)) {
        log_progress(s_, fmt::format("connected {}/{} (failed {})", t.connected, s_.connections, t.failed));
        next_log += 1s;
      }
      std::this_thread::sleep_for(10ms);
    }
    totals t = sum(area);
    auto start_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(start.time_since_epoch()).count();
    r_.connect_s = t.last_connect_ns > 0 ? double(t.last_connect_ns - start_ns) / 1e9 : 0;
    log_progress(s_, fmt::format("connected {}/{} in {:.2f}s (failed {}{}{})", t.connected, s_.connections, r_.connect_s,
                                 t.failed, t.first_error.empty() ? "" : ", first: ", t.first_error));
  }

  // --messages PUBLISHes at --rate; expected = open streams x messages published.
  void publish_phase(shared_area& area) {
    totals t = sum(area);
    std::int64_t open_streams = t.connected - t.closed;
    if (open_streams == 0) {
      r_.notes.push_back("no subscriber connected: nothing published");
      return;
    }
    auto start = steady::now();
    for (long m = 0; m < s_.messages && alive_; ++m) {
      auto at = start + seconds(m / s_.rate);
      while (!past(at) && !past(deadline_)) std::this_thread::sleep_for(std::min<steady::duration>(at - steady::now(), 5ms));
      if (past(deadline_)) {
        r_.timed_out = true;
        break;
      }
      std::string payload = fmt::format("[\"{}\"]", now_ns());
      reply_ptr reply;
      try {
        reply = redis_->command({"PUBLISH", s_.channel, payload});
      } catch (const tempest::redis::io_error& e) {
        r_.notes.push_back(fmt::format("PUBLISH failed: {}", e.what()));
        break;
      }
      if (reply->type != REDIS_REPLY_INTEGER) {
        r_.notes.push_back(fmt::format("PUBLISH failed: {}", tempest::redis::text(reply.get())));
        break;
      }
      ++r_.published;
      if (r_.min_receivers < 0 || reply->integer < r_.min_receivers) r_.min_receivers = reply->integer;
      if (m == s_.messages / 2) r_.redis_clients = std::max(r_.redis_clients, redis_clients(*redis_));
      if (m % 20 == 0) alive_ = children_alive(pids_, r_);
    }
    r_.expected = open_streams * r_.published;
    if (r_.min_receivers == 0)
      r_.notes.push_back("PUBLISH reached no Redis subscriber at least once: is the front subscribed to the channel?");
  }

  // Until everything expected arrived, at most --drain seconds.
  void drain_phase(shared_area& area) {
    auto until = std::min(deadline_, steady::now() + seconds(s_.drain_s));
    while (alive_ && sum(area).received < r_.expected && !past(until)) std::this_thread::sleep_for(10ms);
    if (past(deadline_) && sum(area).received < r_.expected) r_.timed_out = true;
  }

  void collect(shared_area& area) {
    r_.t = sum(area);
    for (std::size_t i = 0; i < area.children(); ++i) {
      auto k = std::min<std::int64_t>(load(area.slot(i).samples), static_cast<std::int64_t>(capacity_[i]));
      r_.samples_us.insert(r_.samples_us.end(), area.samples(i), area.samples(i) + k);
    }
    if (r_.samples_us.empty()) return;
    r_.max_ms = *std::max_element(r_.samples_us.begin(), r_.samples_us.end()) / 1000.0;
    r_.p99_ms = pct_ms(r_.samples_us, 0.99);
    r_.p50_ms = pct_ms(r_.samples_us, 0.50);
  }

  settings s_;
  const steady::time_point deadline_;  // start + --timeout: every phase stops there
  result r_;
  std::vector<std::size_t> shares_;    // connections per child
  std::vector<std::size_t> capacity_;  // latency samples per child
  std::vector<pid_t> pids_;
  std::optional<blocking_client> redis_;
  bool alive_ = true;                  // no child died
};

}  // namespace

int main(int argc, char** argv) {
  load_run run(parse_settings(argc, argv));
  return run.run();
}
