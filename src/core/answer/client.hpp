// The one answer client: a worker's connection to one front's answer endpoint, on which the
// answers `<action> <id> <json>` are pipelined and their +OK/-ERR replies read later. Used by
// the job loop's lanes (src/worker/lane.cpp, one cached client per front per lane) and by the
// reaper's 502 answers for jobs not safe to retry (src/core/queue/reaper.cpp). Nothing else sends
// answers. All its I/O is non-blocking, so that a hung or slow endpoint never stalls the lane's
// jobs for the others: a pool (one client per respond_to) polls all its clients at once.
// (The namespace is `answers`: `tempest::answer` is the handler's class, tempest/worker.hpp.)
//
//   answers::pool p(password, lane, {connect_timeout, timeout, reply_wait, buffer_bytes}, dropped);
//   answers::client& c = p.get("127.0.0.1:7001");   // the respond_to's client, made on first use
//   c.send("url", "42", "[200,{},\"hi\"]", 42, flush_now);   // queued, written now or later
//   p.flush_out();      // write what the sockets take
//   p.collect(false);   // poll all: write, read replies (true: until each is done or down)
//
// States (all transitions in client.cpp; "down" drops the queued answers: their requests get 504
// at the front, counted in `dropped` (worker::dropped_answers()), warned about at most every 10 s
// per endpoint):
//   none       --answer--> connecting: non-blocking connect, AUTH and the answers queued behind
//   connecting --writable--> open (the queue is written as the socket takes it)
//              --refused, or not done within --answer-connect-timeout--> down
//   open       --write or read fails, peer closes--> reconnect once, resend the unacknowledged
//                                                   answers --fails again--> down
//   open       --an answer unacknowledged for --answer-timeout (its write stalled or no reply:
//                a hung endpoint)--> down at once (no resend)
//   open       --queued answers over --answer-buffer bytes--> down at once
//   open       --idle > 100 ms and the peer closed (poll before the next answer)--> reconnect
//   down       --1 s later, next answer--> connecting
// The lane waits for an endpoint's replies at most --answer-reply-wait after its oldest
// unacknowledged answer (then collects them with a later batch): a hung endpoint costs the lane
// that once per outage, never the 5 s of a timeout per job. In the healthy case an answer costs
// what blocking I/O did: one send() per flush, then one poll() and one read() per batch.
// Whether a respond_to may be answered at all is decided before (targets.hpp).
//
// If you change the answer command, change src/front/answer_endpoint.cpp too.
#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct redisReader;  // hiredis

namespace tempest::answers {

// From the worker's options (--answer-connect-timeout, --answer-timeout, --answer-reply-wait,
// --answer-buffer) or the reaper's (reap_options).
struct limits {
  std::chrono::milliseconds connect_timeout{500};
  std::chrono::milliseconds timeout{5000};     // longest an answer may stay unacknowledged
  std::chrono::milliseconds reply_wait{100};   // longest the lane waits for one endpoint
  std::size_t buffer_bytes = 8u << 20;         // unacknowledged answers per connection
};

class client {
 public:
  using clock_type = std::chrono::steady_clock;

  // key: the job's respond_to ("host:port" or "[v6]:port"). password, limits and dropped are
  // the caller's (the pool's) and must outlive the client. lane: for the log lines ("[w<lane>]").
  client(std::string key, const std::string& password, int lane, const limits& l,
         std::atomic<std::uint64_t>& dropped);
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  const std::string& key() const { return key_; }
  std::size_t pending() const { return pending_.size(); }

  // Queues `<action> <id> <json>` and, with flush_now, writes it at once (as far as the socket
  // takes it); otherwise it leaves with the next flush_out() or pool::collect().
  void send(std::string_view action, std::string_view id_text, std::string_view json, std::int64_t id,
            bool flush_now);
  // Writes what send() queued without flush_now, as far as the socket takes it.
  void flush_out();

  // A streamed answer's command (docs/protocol.md 10): `stream <id> <head>`, `chunk <id>
  // <bytes>`, `end <id>` (payload empty). Unlike send() it blocks: while the unacknowledged
  // commands on this connection pass stream_window bytes (the front stops reading a stream's
  // connection while its client is slow, 10.4), it waits for replies, and it marks the
  // endpoint down when none comes for --answer-timeout. Stream commands are never resent
  // after a reconnect (the front may have taken some): the stream fails instead. Returns
  // false with why when the stream can take no more: an -ERR reply came for one of its
  // commands (the client left, the front cut it), its connection broke, or the endpoint is down.
  bool send_stream(std::string_view command, std::string_view id_text, std::string_view payload, std::int64_t id,
                   std::string& why);
  static constexpr std::size_t stream_window = 1u << 20;
  // Waits until every command sent on this connection has its reply (a kept stream's head is
  // then at the front before another connection writes to it); false with why as send_stream.
  bool sync_stream(std::int64_t id, std::string& why);

 private:
  friend class pool;

  struct reader_free {
    void operator()(redisReader* r) const;
  };
  struct pending_answer {
    std::string command;  // RESP bytes, kept to resend after a reconnect (empty for a stream's)
    std::size_t bytes;    // its RESP size
    std::int64_t id;
    clock_type::time_point queued_at;
    bool stream = false;  // a stream command: not resent, its error fails the stream
  };

  // For pool::collect().
  void expire(clock_type::time_point now);  // down when its connect or an answer is overdue
  short events() const;                     // the poll events it waits for (0: none)
  int fd() const { return fd_; }
  clock_type::time_point wait_until() const;  // until when the lane waits for its replies
  void on_ready(short revents);

  bool ensure_open(std::int64_t id, clock_type::time_point now);
  bool start_connect(clock_type::time_point now);
  bool connect_failed(const char* why);
  void write_some();
  void read_some();
  bool take_replies();
  void broken(const char* why);
  void mark_down(const char* why);
  void drop_one(std::int64_t id);
  void close_fd();
  bool peer_closed() const;
  void log_refused(std::int64_t id, std::string_view err);
  void fail_streams(const char* why);  // the stream commands without a reply: their streams fail
  bool stream_failed(std::int64_t id, std::string why);  // false: it had failed already
  bool wait_for_room(std::size_t len);

  std::string key_;  // respond_to as the job gave it: "host:port" or "[v6]:port"
  std::string host_;
  std::uint16_t port_ = 0;
  std::string bad_address_;  // why key_ is not host:port, if it is not
  bool bad_logged_ = false;
  const std::string& password_;
  int lane_;
  const limits& limits_;
  std::atomic<std::uint64_t>& dropped_;  // worker::dropped_answers()
  int fd_ = -1;
  bool connected_ = false;      // the non-blocking connect completed (a send succeeded)
  bool awaiting_auth_ = false;  // the first reply on this connection is AUTH's
  std::unique_ptr<redisReader, reader_free> reader_;
  std::string out_;            // bytes not written yet (AUTH, answers)
  std::size_t out_off_ = 0;    // how much of out_ is written
  std::deque<pending_answer> pending_;  // queued or sent, reply not read yet
  std::size_t pending_bytes_ = 0;       // their RESP bytes (bounded by buffer_bytes)
  clock_type::time_point connect_started_{};
  clock_type::time_point last_used_{};
  clock_type::time_point retry_after_{};
  bool resent_ = false;  // pending_ was already resent once on a new connection
  clock_type::time_point down_logged_at_{};  // outages are warned about every 10 s at most
  std::uint64_t down_dropped_ = 0;           // answers dropped since that line
  std::uint64_t down_since_log_ = 0;         // outages since that line
  clock_type::time_point last_warning_{};    // refused answers are warned about once a second
  std::uint64_t suppressed_warnings_ = 0;
  clock_type::time_point last_reply_at_{};   // progress: an endpoint that replies is not hung
  std::deque<std::pair<std::int64_t, std::string>> failed_streams_;  // job id, why (the latest 64)
};

// The clients of one lane (or of one reap): one per respond_to, created on first use, at most
// max_clients (beyond, an idle one is forgotten: many fronts came and went).
class pool {
 public:
  static constexpr std::size_t max_clients = 64;

  // password and dropped are the caller's and must outlive the pool.
  pool(const std::string& password, int lane, limits l, std::atomic<std::uint64_t>& dropped)
      : password_(password), lane_(lane), limits_(l), dropped_(dropped) {}
  pool(const pool&) = delete;  // the clients hold references to limits_
  pool& operator=(const pool&) = delete;

  client& get(std::string_view respond_to);
  // Writes what each client queued without flush_now.
  void flush_out();
  // Writes the queued answers of every client and reads their replies with one poll() over all
  // of them, waiting for each at most until its reply wait is over (final: until each is done or
  // down, at a stop or at the end of a reap). Replies not in by then are collected with a later
  // call.
  void collect(bool final);

 private:
  const std::string& password_;
  const int lane_;
  const limits limits_;
  std::atomic<std::uint64_t>& dropped_;
  std::vector<std::unique_ptr<client>> clients_;
  client* last_ = nullptr;  // most jobs of a batch come from the same front
};

}  // namespace tempest::answers
