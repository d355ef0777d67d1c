// Live channels for Server-Sent Events, per front thread: one Redis pub/sub connection shared
// by every subscriber of the thread, reference-counted per channel (the first local subscriber
// SUBSCRIBEs, the last one leaving UNSUBSCRIBEs), fan-out of each message to the channel's
// subscribers, keep-alive comments, and the resync after the pub/sub connection comes back.
//
//   channel_hub hub(sh.sse, pubsub_client);  hub.start();
//   hub.add(sub);  ...  hub.remove(sub);      // sub: an sse_subscriber (below)
//
// Subscriber lifecycle (one place):
//   handshake and replay (held: live messages wait in held_) -> ready (live messages go out)
//   -> closing (client gone, write error, backlog over --sse-max-queue, $unsubscribe, shutdown)
// Each subscriber has one writer: a bounded queue of shared event blocks and one write loop;
// a formatted block is shared by every single-channel subscriber of a channel (no copies).
// Backlog = unsent bytes + held live messages; over --sse-max-queue the subscriber is closed
// (the slow-subscriber rule), whether it is replaying history or live.
// Resync (after the pub/sub connection comes back), per channel: the history after the newest
// id delivered is read in pages (sse_replay's read_pages, about --sse-max-queue / 2 per page)
// and fanned out like live messages; before the next page the resync waits (a bounded time)
// for the channel's subscribers to drain under half of --sse-max-queue, then goes on (those
// still over the limit are closed by the slow-subscriber rule). Live messages of the channel
// wait in the hub meanwhile (at most --sse-max-queue bytes) and follow once the history
// reaches the first of them; tempest.resync says whether the gap was covered.
#pragma once
#include "front/sse_event.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace tempest { struct resp_value; }
namespace tempest::redis { class async_client; }

namespace tempest::front {

struct sse_context;
class channel_hub;

using block_ptr = std::shared_ptr<const std::string>;

class sse_subscriber : public std::enable_shared_from_this<sse_subscriber> {
 public:
  sse_subscriber(sse_context& ctx, boost::asio::ip::tcp::socket socket, std::vector<std::string> channels);

  const std::vector<std::string>& channels() const { return channels_; }
  std::vector<std::string>& cursors() { return cursors_; }  // one stream id per channel ("0": none)
  // "a=<id>,b=<id>" with channel i first.
  std::string cursor_text(std::size_t first) const;
  int channel_index(const std::string& channel) const;

  void enqueue(block_ptr block);
  void enqueue(std::string block) { enqueue(std::make_shared<const std::string>(std::move(block))); }
  // A live message for channel i (hub fan-out). `shared` is the block for single-channel
  // subscribers whose cursor is the hub's; others get their own block.
  void deliver(std::size_t i, const sse_message& m, const block_ptr& shared, const std::string& shared_cursor);
  // Handshake done: flush the held messages (skipping what the replay already sent).
  void make_ready();
  bool ready() const { return ready_; }
  bool closing() const { return closing_ || close_after_write_; }
  // Bytes waiting: unsent, and held live messages (with some bookkeeping each).
  std::size_t backlog() const { return queued_bytes_ + held_bytes_; }
  // Cancels wake() once the backlog is under `mark` (the replay waits for room this way).
  void wake_below(std::size_t mark) { wake_mark_ = mark; }
  void start_reading();  // notices a client that goes away, at once (read EOF or reset)
  // Closes soon (posted: safe during fan-out).
  void request_close();
  // Closes once what is queued has been written.
  void finish();
  boost::asio::steady_timer& wake() { return wake_; }  // the handshake waits on it

 private:
  void do_write();
  void do_close();
  bool over_limit(bool alone) const;
  void close_slow();
  void wake_if_room();

  sse_context& ctx_;
  boost::asio::ip::tcp::socket socket_;
  std::vector<std::string> channels_;
  std::vector<std::string> cursors_;
  std::vector<block_ptr> queue_;  // unsent blocks, in order
  std::size_t front_sent_ = 0;    // bytes of queue_.front() already written
  std::size_t queued_bytes_ = 0;  // unsent bytes, bounded by --sse-max-queue
  std::vector<boost::asio::const_buffer> write_bufs_;  // the buffers of the write in flight
  struct held_message {
    std::size_t channel;
    sse_message message;
  };
  std::vector<held_message> held_;  // live messages that came during the handshake and replay
  std::size_t held_bytes_ = 0;      // their size, counted in the backlog
  std::size_t wake_mark_ = 0;       // wake_ is cancelled when the backlog falls under it (0: off)
  boost::asio::steady_timer wake_;
  char read_sink_[16];
  bool ready_ = false;
  bool writing_ = false;
  bool close_after_write_ = false;
  bool closing_ = false;
};

class channel_hub {
 public:
  channel_hub(sse_context& ctx, std::shared_ptr<redis::async_client> pubsub);
  ~channel_hub();
  void start();
  bool connected() const;

  // Registers the subscriber on its channels; SUBSCRIBEs the new ones.
  void add(const std::shared_ptr<sse_subscriber>& s);
  void remove(sse_subscriber& s);
  // True when Redis confirmed the subscription to every channel of s.
  bool subscribed(const sse_subscriber& s) const;
  // The newest history id seen on the channel ("" when unknown).
  std::string last_id(const std::string& channel) const;
  void note_id(const std::string& channel, const std::string& id);
  void close_all();
  std::size_t channel_count() const { return channels_.size(); }

 private:
  struct channel_state {
    std::vector<sse_subscriber*> subs;
    bool confirmed = false;  // Redis acknowledged SUBSCRIBE on the current connection
    bool resync = false;     // after a reconnect: replay history, then tell the subscribers
    std::string last_id;     // newest history id delivered ("" unknown)
    std::uint64_t resync_run = 0;  // the resync under way (0: none); live messages wait meanwhile
    std::deque<sse_message> held;  // live messages that came during the resync, in order
    std::size_t held_bytes = 0;    // their size, bounded by --sse-max-queue
  };
  void on_push(resp_value v);
  void on_message(const std::string& channel, const std::string& payload);
  void on_connected();
  void fan_out(const std::string& channel, channel_state& ch, const sse_message& m);
  void hold(const std::string& channel, channel_state& ch, sse_message m);
  void resync(const std::string& channel);
  boost::asio::awaitable<void> run_resync(std::string channel, std::uint64_t run);
  boost::asio::awaitable<bool> wait_room(const std::string& channel, std::uint64_t run);
  channel_state* resyncing(const std::string& channel, std::uint64_t run);
  void end_resync(const std::string& channel, channel_state& ch, bool lost);
  void schedule_keepalive();
  void schedule_heap_release();

  sse_context& ctx_;
  std::shared_ptr<redis::async_client> pubsub_;
  std::unordered_map<std::string, channel_state> channels_;
  std::unordered_map<sse_subscriber*, std::shared_ptr<sse_subscriber>> all_;  // owns the subscribers
  boost::asio::steady_timer keepalive_;
  boost::asio::steady_timer heap_release_;  // after subscribers leave (see release_free_heap)
  bool heap_release_pending_ = false;
  bool ever_connected_ = false;
  std::uint64_t resync_runs_ = 0;  // numbers the resyncs (a newer one replaces one under way)
};

}  // namespace tempest::front
