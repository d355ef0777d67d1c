#include "front/channel_hub.hpp"

#include "core/history.hpp"
#include "core/log.hpp"
#include "core/redis/async_client.hpp"
#include "core/resp.hpp"
#include "front/front_config.hpp"
#include "front/front_stats.hpp"
#include "front/sse_context.hpp"
#include "front/sse_replay.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <malloc.h>

#include <algorithm>
#include <atomic>

namespace tempest::front {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {
constexpr std::size_t max_gather = 64;  // blocks per write
const block_ptr keepalive_block = std::make_shared<const std::string>(":\n\n");
constexpr std::size_t heap_release_step = 8u << 20;
constexpr std::chrono::seconds heap_release_delay{1};
constexpr std::chrono::seconds resync_stall{2};  // a resync waits this long at most for slow subscribers
constexpr std::chrono::milliseconds resync_poll{10};

// glibc keeps what is freed in its arenas (RSS stays at the peak): after subscribers with
// large backlogs (deep replays, slow clients cut off) are gone, hand the free pages back to
// the system, when the free heap grew by heap_release_step since the last time. Any thread.
void release_free_heap() {
  static std::atomic<std::size_t> low{0};  // free heap after the last release, or its low since
  std::size_t free_now = mallinfo2().fordblks;
  std::size_t was = low.load(std::memory_order_relaxed);
  if (free_now < was + heap_release_step) {
    if (free_now < was) low.store(free_now, std::memory_order_relaxed);
    return;
  }
  malloc_trim(0);
  low.store(mallinfo2().fordblks, std::memory_order_relaxed);
}
}  // namespace

// ---- sse_subscriber -------------------------------------------------------------------------

sse_subscriber::sse_subscriber(sse_context& ctx, asio::ip::tcp::socket socket, std::vector<std::string> channels)
    : ctx_(ctx), socket_(std::move(socket)), channels_(std::move(channels)), cursors_(channels_.size(), "0"),
      wake_(ctx.ioc) {
  error_code ec;
  socket_.non_blocking(true, ec);  // enqueue() writes directly when the socket can take it
}

std::string sse_subscriber::cursor_text(std::size_t first) const {
  std::string out = channels_[first] + "=" + cursors_[first];
  for (std::size_t i = 0; i < channels_.size(); ++i)
    if (i != first) out.append(",").append(channels_[i]).append("=").append(cursors_[i]);
  return out;
}

int sse_subscriber::channel_index(const std::string& channel) const {
  for (std::size_t i = 0; i < channels_.size(); ++i)
    if (channels_[i] == channel) return static_cast<int>(i);
  return -1;
}

void sse_subscriber::enqueue(block_ptr block) {
  if (closing_ || close_after_write_) return;
  queued_bytes_ += block->size();
  // A lagging subscriber is cut off; one event larger than the limit still goes to a reader
  // that is keeping up (nothing else was waiting).
  if (over_limit(queue_.empty() && held_.empty())) return close_slow();
  if (!writing_ && queue_.empty()) {
    // Fan-out fast path: one non-blocking send, no handler, no allocation. Only what the
    // socket does not take waits in the queue for the write loop.
    error_code ec;
    std::size_t n = socket_.write_some(asio::buffer(*block), ec);
    if (ec && ec != asio::error::would_block) return request_close();
    queued_bytes_ -= n;
    if (n == block->size()) return wake_if_room();
    front_sent_ = n;
  }
  queue_.push_back(std::move(block));
  if (!writing_) do_write();
}

bool sse_subscriber::over_limit(bool alone) const { return backlog() > ctx_.cfg.sse_max_queue && !alone; }

void sse_subscriber::close_slow() {
  front_stats::inc(ctx_.stats.sse_slow_closed);
  log::get("sse")->info("closing a slow subscriber of {}: {} bytes unsent, {} held", cursor_text(0), queued_bytes_,
                        held_bytes_);
  request_close();
}

void sse_subscriber::wake_if_room() {
  if (wake_mark_ == 0 || backlog() >= wake_mark_) return;
  wake_mark_ = 0;
  wake_.cancel();
}

void sse_subscriber::deliver(std::size_t i, const sse_message& m, const block_ptr& shared,
                             const std::string& shared_cursor) {
  if (closing_) return;
  if (!ready_) {  // handshake or replay: after it, in order (make_ready)
    held_bytes_ += sizeof(held_message) + m.id.size() + m.event.size() + m.data.size();
    held_.push_back({i, m});
    if (over_limit(held_.size() == 1 && queue_.empty())) close_slow();
    return;
  }
  if (!m.id.empty()) {
    if (!stream_id_less(cursors_[i], m.id)) return;  // already sent by the replay
    cursors_[i] = m.id;
  }
  front_stats::inc(ctx_.stats.sse_events_sent);
  if (m.end) {
    std::string b;
    append_sse_event(b, cursor_text(i), "end", "");
    enqueue(std::move(b));
    close_after_write_ = true;
    if (!writing_) request_close();
    return;
  }
  if (shared && channels_.size() == 1 && cursors_[0] == shared_cursor) return enqueue(shared);
  std::string b;
  append_sse_event(b, cursor_text(i), m.event, m.data);
  enqueue(std::move(b));
}

void sse_subscriber::make_ready() {
  ready_ = true;
  auto held = std::move(held_);
  held_ = {};
  held_bytes_ = 0;
  for (auto& h : held) deliver(h.channel, h.message, nullptr, {});
}

void sse_subscriber::start_reading() {
  socket_.async_read_some(asio::buffer(read_sink_), [self = shared_from_this()](error_code ec, std::size_t) {
    if (ec) {
      if (ec != asio::error::operation_aborted) self->request_close();
      return;
    }
    self->start_reading();  // clients have nothing to say on an event stream: ignore it
  });
}

void sse_subscriber::do_write() {
  if (queue_.empty() || closing_) return;
  writing_ = true;
  write_bufs_.clear();
  std::size_t n = std::min(queue_.size(), max_gather);
  write_bufs_.push_back(asio::buffer(*queue_[0]) + front_sent_);
  for (std::size_t i = 1; i < n; ++i) write_bufs_.push_back(asio::buffer(*queue_[i]));
  asio::async_write(socket_, write_bufs_, [self = shared_from_this(), n](error_code ec, std::size_t bytes) {
    self->writing_ = false;
    if (ec) return self->request_close();
    self->queue_.erase(self->queue_.begin(), self->queue_.begin() + static_cast<std::ptrdiff_t>(n));
    self->front_sent_ = 0;
    self->queued_bytes_ -= bytes;
    self->wake_if_room();
    if (!self->queue_.empty()) return self->do_write();
    if (self->close_after_write_) self->request_close();
  });
}

void sse_subscriber::finish() {
  close_after_write_ = true;
  if (!writing_) request_close();
}

void sse_subscriber::request_close() {
  if (closing_) return;
  closing_ = true;
  asio::post(ctx_.ioc, [self = shared_from_this()] { self->do_close(); });
}

void sse_subscriber::do_close() {
  error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  wake_.cancel();
  held_ = {};  // the queue goes with the last handler that holds this subscriber
  held_bytes_ = 0;
  if (ctx_.hub) ctx_.hub->remove(*this);
}

// ---- channel_hub ----------------------------------------------------------------------------

channel_hub::channel_hub(sse_context& ctx, std::shared_ptr<redis::async_client> pubsub)
    : ctx_(ctx), pubsub_(std::move(pubsub)), keepalive_(ctx.ioc), heap_release_(ctx.ioc) {}

channel_hub::~channel_hub() = default;

void channel_hub::start() {
  pubsub_->on_push([this](resp_value v) { on_push(std::move(v)); });
  pubsub_->on_connect([this] { on_connected(); });
  pubsub_->on_disconnect([this] {
    for (auto& [name, ch] : channels_) ch.confirmed = false;
  });
  pubsub_->start();
  schedule_keepalive();
}

bool channel_hub::connected() const { return pubsub_->connected(); }

void channel_hub::add(const std::shared_ptr<sse_subscriber>& s) {
  all_[s.get()] = s;
  front_stats::inc(ctx_.stats.sse_subscribers);
  front_stats::inc(ctx_.stats.sse_subscribers_total);
  std::vector<std::string_view> fresh{"SUBSCRIBE"};
  for (auto& name : s->channels()) {
    auto [it, inserted] = channels_.try_emplace(name);
    it->second.subs.push_back(s.get());
    if (inserted) {
      front_stats::inc(ctx_.stats.sse_channels);
      fresh.push_back(it->first);
    }
  }
  if (fresh.size() > 1) pubsub_->send_push(format_command(fresh));
}

void channel_hub::remove(sse_subscriber& s) {
  auto owner = all_.find(&s);
  if (owner == all_.end()) return;
  auto keep = owner->second;  // s lives until the end of this call
  all_.erase(owner);
  front_stats::dec(ctx_.stats.sse_subscribers);
  std::vector<std::string_view> gone{"UNSUBSCRIBE"};
  std::vector<std::string> names;
  for (auto& name : s.channels()) {
    auto it = channels_.find(name);
    if (it == channels_.end()) continue;
    auto& subs = it->second.subs;
    subs.erase(std::remove(subs.begin(), subs.end(), &s), subs.end());
    if (subs.empty()) names.push_back(name);
  }
  for (auto& name : names) {
    channels_.erase(name);
    front_stats::dec(ctx_.stats.sse_channels);
  }
  for (auto& n : names) gone.push_back(n);
  if (gone.size() > 1) pubsub_->send_push(format_command(gone));
  schedule_heap_release();
}

void channel_hub::schedule_heap_release() {
  if (heap_release_pending_) return;
  heap_release_pending_ = true;
  heap_release_.expires_after(heap_release_delay);
  heap_release_.async_wait([this](error_code ec) {
    heap_release_pending_ = false;
    if (!ec) release_free_heap();
  });
}

bool channel_hub::subscribed(const sse_subscriber& s) const {
  for (auto& name : s.channels()) {
    auto it = channels_.find(name);
    if (it == channels_.end() || !it->second.confirmed) return false;
  }
  return true;
}

std::string channel_hub::last_id(const std::string& channel) const {
  auto it = channels_.find(channel);
  return it == channels_.end() ? std::string() : it->second.last_id;
}

void channel_hub::note_id(const std::string& channel, const std::string& id) {
  auto it = channels_.find(channel);
  if (it == channels_.end() || id.empty()) return;
  if (it->second.last_id.empty() || stream_id_less(it->second.last_id, id)) it->second.last_id = id;
}

void channel_hub::close_all() {
  std::vector<std::shared_ptr<sse_subscriber>> subs;
  for (auto& [p, s] : all_) subs.push_back(s);
  for (auto& s : subs) s->request_close();
}

void channel_hub::on_connected() {
  // (Re)subscribe everything this thread has subscribers for, in one command.
  std::vector<std::string_view> argv{"SUBSCRIBE"};
  for (auto& [name, ch] : channels_) {
    argv.push_back(name);
    ch.resync = ever_connected_;
  }
  if (ever_connected_) log::get("sse")->info("pub/sub connection back: resubscribing {} channel(s)", channels_.size());
  ever_connected_ = true;
  if (argv.size() > 1) pubsub_->send_push(format_command(argv));
}

void channel_hub::on_push(resp_value v) {
  if (v.is_error()) {
    log::get("sse")->error("Redis pub/sub error: {}", v.str);
    return;
  }
  if (v.type != resp_value::kind::array || v.elements.size() < 3) return;  // +OK of AUTH and such
  const std::string& kind = v.elements[0].str;
  const std::string& channel = v.elements[1].str;
  if (kind == "message") return on_message(channel, v.elements[2].str);
  if (kind == "subscribe") {
    auto it = channels_.find(channel);
    if (it == channels_.end()) return;
    it->second.confirmed = true;
    for (auto* s : it->second.subs) s->wake().cancel();
    if (it->second.resync) resync(channel);
  }
}

void channel_hub::on_message(const std::string& channel, const std::string& payload) {
  auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  sse_message m = decode_sse_message(payload);
  if (it->second.resync_run != 0) return hold(channel, it->second, std::move(m));
  fan_out(channel, it->second, m);
}

void channel_hub::fan_out(const std::string& channel, channel_state& ch, const sse_message& m) {
  note_id(channel, m.id);
  std::string cursor = ch.last_id.empty() ? "0" : ch.last_id;
  block_ptr shared;
  if (!m.end) {
    std::string b;
    append_sse_event(b, channel + "=" + cursor, m.event, m.data);
    shared = std::make_shared<const std::string>(std::move(b));
  }
  // Delivery never removes a subscriber synchronously (closing is posted): safe to iterate.
  for (auto* s : ch.subs) {
    int i = s->channel_index(channel);
    if (i >= 0) s->deliver(static_cast<std::size_t>(i), m, shared, cursor);
  }
}

// A live message during the channel's resync: after the history (which may hold it too).
// More than --sse-max-queue of them: the resync stops here, the rest of the gap lost.
void channel_hub::hold(const std::string& channel, channel_state& ch, sse_message m) {
  ch.held_bytes += message_bytes(m);
  ch.held.push_back(std::move(m));
  if (ch.held_bytes <= ctx_.cfg.sse_max_queue) return;
  log::get("sse")->warn("resync of {}: more live messages than --sse-max-queue came meanwhile; stopping it", channel);
  end_resync(channel, ch, true);
}

// After a reconnect: replay the channel's history after the newest id delivered, then tell
// each subscriber whether the gap is covered ({"lost":false}) or something may be missing.
void channel_hub::resync(const std::string& channel) {
  auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  auto& ch = it->second;
  ch.resync = false;
  // One under way (the connection broke again) stops; its held messages are in the history
  // this one reads from the newest id delivered.
  ch.resync_run = ++resync_runs_;
  ch.held.clear();
  ch.held_bytes = 0;
  asio::co_spawn(ctx_.ioc, run_resync(channel, ch.resync_run), [channel](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      log::get("sse")->error("resync of {} failed: {}", channel, x.what());
    }
  });
}

channel_hub::channel_state* channel_hub::resyncing(const std::string& channel, std::uint64_t run) {
  auto it = channels_.find(channel);
  return it == channels_.end() || it->second.resync_run != run ? nullptr : &it->second;
}

// Pages of about half the queue limit, each fanned out before the next is read. The history
// stops at the first live message held (from there on the live ones are complete), at its end,
// or at --sse-replay-limit entries.
asio::awaitable<void> channel_hub::run_resync(std::string channel, std::uint64_t run) {
  const std::vector<std::string> names{channel};
  channel_state* start = resyncing(channel, run);  // (co_spawn starts it later: it may be gone)
  if (!start) co_return;
  std::vector<history_source> src(1);
  src[0].from = start->last_id;
  src[0].left = ctx_.cfg.sse_replay_limit;
  bool lost = src[0].from.empty();  // nothing recorded was delivered before: cannot prove the gap covered
  bool caught_up = false;
  while (!caught_up && !src[0].done) {
    co_await read_pages(ctx_, src, names, std::max<std::size_t>(ctx_.cfg.sse_max_queue / 2, 1));
    channel_state* ch = resyncing(channel, run);
    if (!ch) co_return;
    auto first_live = std::find_if(ch->held.begin(), ch->held.end(), [](auto& m) { return !m.id.empty(); });
    for (; !src[0].page.empty(); src[0].page.pop_front()) {
      const sse_message& m = src[0].page.front();
      if (first_live != ch->held.end() && !stream_id_less(m.id, first_live->id)) {
        caught_up = true;
        break;
      }
      front_stats::inc(ctx_.stats.sse_replayed);
      fan_out(channel, *ch, m);
    }
    if (!caught_up && !src[0].done && !co_await wait_room(channel, run)) co_return;
  }
  if (channel_state* ch = resyncing(channel, run)) end_resync(channel, *ch, lost || src[0].gap);
}

// Until every subscriber of the channel has less than half of --sse-max-queue waiting, or
// resync_stall passed (one that does not read then meets the slow-subscriber rule). False when
// the resync was stopped meanwhile.
asio::awaitable<bool> channel_hub::wait_room(const std::string& channel, std::uint64_t run) {
  const std::size_t mark = std::max<std::size_t>(ctx_.cfg.sse_max_queue / 2, 1);
  const auto until = std::chrono::steady_clock::now() + resync_stall;
  asio::steady_timer poll(ctx_.ioc);
  error_code ec;
  while (channel_state* ch = resyncing(channel, run)) {
    bool room = std::all_of(ch->subs.begin(), ch->subs.end(),
                            [mark](sse_subscriber* s) { return s->closing() || s->backlog() < mark; });
    if (room || std::chrono::steady_clock::now() >= until) co_return true;
    poll.expires_after(resync_poll);
    co_await poll.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return false;
}

// The gap is filled: say so, then the live messages held meanwhile (those the history already
// delivered are skipped by id).
void channel_hub::end_resync(const std::string& channel, channel_state& ch, bool lost) {
  ch.resync_run = 0;
  auto held = std::move(ch.held);
  ch.held = {};
  ch.held_bytes = 0;
  std::string data = std::string("{\"channel\":\"") + channel + "\",\"lost\":" + (lost ? "true" : "false") + "}";
  for (auto* s : ch.subs) {
    int i = s->channel_index(channel);
    if (i < 0 || !s->ready()) continue;
    std::string b;
    append_sse_event(b, s->cursor_text(static_cast<std::size_t>(i)), "tempest.resync", data);
    s->enqueue(std::move(b));
  }
  for (auto& m : held) fan_out(channel, ch, m);
}

void channel_hub::schedule_keepalive() {
  keepalive_.expires_after(ctx_.cfg.sse_keepalive);
  keepalive_.async_wait([this](error_code ec) {
    if (ec) return;
    for (auto& [p, s] : all_)
      if (s->ready()) s->enqueue(keepalive_block);
    schedule_keepalive();
  });
}

}  // namespace tempest::front
