#include "front/sse_replay.hpp"

#include "core/history.hpp"
#include "core/redis/async_client.hpp"
#include "core/resp.hpp"
#include "front/channel_hub.hpp"
#include "front/front_config.hpp"
#include "front/front_stats.hpp"
#include "front/sse_context.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace tempest::front {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr std::chrono::seconds page_wait{5};         // a page Redis does not send in time: gap
constexpr std::chrono::seconds room_recheck{1};      // the drain wake-up is also polled this often
constexpr std::uint64_t max_page = 256;              // entries per XRANGE, at most
constexpr std::uint64_t first_page = 4;              // entries of unknown size asked for first
constexpr std::size_t entry_overhead = 64;           // bookkeeping per buffered entry

bool whole(const std::string& cursor) { return cursor.empty() || cursor == "0"; }

// Entries to ask for: this channel's share of the budget, in entries of the largest size seen
// on the last page (a few before any was seen: entries may be large); one more than the replay
// limit allows, to tell whether more was missed.
std::uint64_t page_count(const history_source& s, std::size_t budget, std::size_t sources) {
  std::size_t share = std::max<std::size_t>(budget / sources, 1);
  std::uint64_t n = s.entry_bytes == 0 ? first_page : std::clamp<std::uint64_t>(share / s.entry_bytes, 1, max_page);
  return std::min(n, s.left + 1);
}

void take_page(history_source& s, std::uint64_t asked, std::optional<resp_value>& reply) {
  if (!reply || reply->type != resp_value::kind::array) {  // Redis failed: say something may be lost
    s.gap = s.done = true;
    return;
  }
  history_page page = read_history(std::move(*reply), s.from);
  reply.reset();
  if (page.gap) s.gap = true;
  if (page.messages.size() < asked) s.done = true;  // the end of the history
  if (page.messages.size() > s.left) {              // more than --sse-replay-limit was missed
    page.messages.resize(s.left);
    s.gap = s.done = true;
  }
  s.left -= page.messages.size();  // at 0 and not done: a page of 1 tells whether more was missed
  if (!page.messages.empty()) {
    s.entry_bytes = 0;
    for (auto& m : page.messages) s.entry_bytes = std::max(s.entry_bytes, message_bytes(m));
    s.from = page.messages.back().id;
  }
  for (auto& m : page.messages) s.page.push_back(std::move(m));
}

// Waits until the subscriber's backlog is under `mark` (or it is closing).
asio::awaitable<void> wait_room(sse_subscriber& sub, std::size_t mark) {
  error_code ec;
  while (!sub.closing() && sub.backlog() >= mark) {
    sub.wake_below(mark);
    sub.wake().expires_after(room_recheck);
    co_await sub.wake().async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

// The source whose next entry has the smallest id, or nullptr when every page is empty.
history_source* next_source(std::vector<history_source>& sources) {
  history_source* best = nullptr;
  for (auto& s : sources)
    if (!s.page.empty() && (!best || stream_id_less(s.page.front().id, best->page.front().id))) best = &s;
  return best;
}

}  // namespace

std::size_t message_bytes(const sse_message& m) {
  return m.id.size() + m.event.size() + m.data.size() + entry_overhead;
}

asio::awaitable<void> read_pages(sse_context& ctx, std::vector<history_source>& sources, const std::vector<std::string>& names,
                                 std::size_t budget) {
  std::vector<std::string> wires;
  std::vector<std::pair<std::size_t, std::uint64_t>> asked;  // source, entries asked for
  for (std::size_t k = 0; k < sources.size(); ++k) {
    auto& s = sources[k];
    if (s.done || !s.page.empty()) continue;
    std::uint64_t n = page_count(s, budget, sources.size());
    wires.push_back(history_range_command(names[s.channel], s.from, n));
    asked.emplace_back(k, n);
  }
  if (wires.empty()) co_return;
  auto replies = co_await redis_calls(ctx, std::move(wires), page_wait);
  for (std::size_t r = 0; r < asked.size(); ++r) take_page(sources[asked[r].first], asked[r].second, replies[r]);
}

asio::awaitable<std::vector<std::optional<resp_value>>> redis_calls(sse_context& ctx, std::vector<std::string> wires,
                                                                    std::chrono::milliseconds timeout) {
  struct call_state {
    explicit call_state(asio::io_context& ioc, std::size_t n) : wake(ioc), values(n) {}
    asio::steady_timer wake;
    std::vector<std::optional<resp_value>> values;
    std::size_t pending = 0;
  };
  auto st = std::make_shared<call_state>(ctx.ioc, wires.size());
  st->wake.expires_after(timeout);
  st->pending = wires.size();
  for (std::size_t i = 0; i < wires.size(); ++i) {
    ctx.redis->send(std::move(wires[i]), [st, i](error_code ec, resp_value v) {
      if (!ec && !v.is_error()) st->values[i] = std::move(v);
      if (--st->pending == 0) st->wake.cancel();
    });
  }
  error_code ec;
  while (st->pending > 0) {
    co_await st->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) break;  // timed out: the late replies land in st, which outlives us
  }
  co_return std::move(st->values);
}

std::string history_range_command(const std::string& channel, const std::string& cursor, std::uint64_t count) {
  bool all = whole(cursor);
  return format_command({"XRANGE", history::key(channel), all ? "-" : cursor, "+", "COUNT",
                         std::to_string(all ? count : count + 1)});
}

history_page read_history(resp_value&& reply, const std::string& cursor) {
  history_page page;
  bool all = whole(cursor);
  bool cursor_seen = false;
  page.messages.reserve(reply.elements.size());
  for (auto& entry : reply.elements) {
    if (entry.elements.size() != 2) continue;
    if (!all && entry.elements[0].str == cursor) {
      cursor_seen = true;
      continue;
    }
    sse_message m;
    m.id = std::move(entry.elements[0].str);
    auto& fields = entry.elements[1].elements;
    for (std::size_t f = 0; f + 1 < fields.size(); f += 2) {
      if (fields[f].str == "e") m.event = std::move(fields[f + 1].str);
      if (fields[f].str == "d") m.data = std::move(fields[f + 1].str);
    }
    page.messages.push_back(std::move(m));
  }
  if (!all && !cursor_seen) page.gap = true;
  return page;
}

asio::awaitable<std::vector<std::size_t>> replay_history(sse_context& ctx, std::shared_ptr<sse_subscriber> sub,
                                                         std::vector<replay_source> from) {
  const std::size_t mark = std::max<std::size_t>(ctx.cfg.sse_max_queue / 2, 1);
  const std::size_t block_size = std::clamp<std::size_t>(ctx.cfg.sse_max_queue / 8, 256, 16 * 1024);
  std::vector<history_source> sources;
  for (auto& f : from) {
    history_source s;
    s.channel = f.channel;
    s.from = f.from;
    s.left = ctx.cfg.sse_replay_limit;
    sources.push_back(std::move(s));
  }
  std::string block;
  while (!sub->closing()) {
    co_await read_pages(ctx, sources, sub->channels(), mark);
    history_source* s = sub->closing() ? nullptr : next_source(sources);
    if (!s) break;
    sse_message m = std::move(s->page.front());
    s->page.pop_front();
    auto& cursor = sub->cursors()[s->channel];
    if (!stream_id_less(cursor, m.id)) continue;
    cursor = m.id;
    append_sse_event(block, sub->cursor_text(s->channel), m.event, m.data);
    front_stats::inc(ctx.stats.sse_replayed);
    if (block.size() < block_size) continue;
    sub->enqueue(std::exchange(block, std::string()));
    co_await wait_room(*sub, mark);
  }
  if (!block.empty() && !sub->closing()) sub->enqueue(std::move(block));
  std::vector<std::size_t> gaps;
  for (auto& s : sources)
    if (s.gap) gaps.push_back(s.channel);
  co_return gaps;
}

}  // namespace tempest::front
