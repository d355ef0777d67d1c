// Resume from channel history (docs/protocol.md 7.6): replays, for each channel of a client's
// Last-Event-ID, the recorded messages after its stream id, merged in id order across channels,
// in bounded pages read from Redis (XRANGE ... COUNT n) only while the subscriber's queue has
// room, so that what a resuming client costs is bounded by --sse-max-queue however deep the
// history and however slowly (or not at all) it reads.
//
//   std::vector<replay_source> from{{0, "1732761600000-0"}, {2, "0"}};
//   auto gaps = co_await replay_history(ctx, sub, from);  // channel indexes to report lost
//
// Pages: each channel has at most one page buffered, sized from the entry sizes seen so that
// all buffered pages together stay under about half of --sse-max-queue. Events go to the
// subscriber in blocks of a few KiB; after each block the replay waits until the subscriber's
// backlog (unsent bytes and held live messages) is under half of --sse-max-queue. Live messages
// that arrive meanwhile are held by the subscriber (counted in its backlog, so a client that
// never reads is cut off by the slow-subscriber rule once they pass the limit) and go out after
// the replay, those already replayed skipped by id.
// Gaps: a channel is reported when its history no longer holds the id a page started from
// (trimmed or expired), when more than --sse-replay-limit entries were missed, or when Redis
// failed to answer a page.
// The paged reads (history_source, read_pages) also serve the resync after a lost pub/sub
// connection (channel_hub, 7.8), which fans each page out to a channel's subscribers.
#pragma once
#include "front/sse_event.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tempest { struct resp_value; }

namespace tempest::front {

struct sse_context;
class sse_subscriber;

// Commands from a coroutine, sent together; one result per command, nullopt where Redis
// failed, replied an error or did not answer within `timeout`.
boost::asio::awaitable<std::vector<std::optional<resp_value>>> redis_calls(sse_context& ctx, std::vector<std::string> wires,
                                                                           std::chrono::milliseconds timeout);

// History reads (resume and resync). A range starts AT the cursor (inclusive), so that the
// reply tells whether the history still holds the cursor's entry: if not, entries were trimmed
// (or expired) in between and the gap is reported. Cursor "0" or "": from the oldest entry.
// Asks for at most `count` entries after the cursor.
std::string history_range_command(const std::string& channel, const std::string& cursor, std::uint64_t count);
struct history_page {
  std::vector<sse_message> messages;  // after the cursor, oldest first
  bool gap = false;                   // the cursor's entry is gone: something may be missing
};
// Takes the strings out of reply.
history_page read_history(resp_value&& reply, const std::string& cursor);

// One channel's history read in pages (XRANGE ... COUNT n), for resume and resync.
struct history_source {
  std::size_t channel = 0;        // index in `names` of read_pages
  std::string from;               // the id the next page starts at (its entry is skipped)
  std::uint64_t left = 0;         // entries still allowed by --sse-replay-limit
  std::deque<sse_message> page;   // read, not yet sent
  std::size_t entry_bytes = 0;    // the largest entry on the last page (0: none seen yet)
  bool done = false;              // nothing more to read
  bool gap = false;               // the history did not cover this channel's gap
};
// Reads the next page of every source that has none buffered (one round trip for all), each
// sized from the largest entry of its last page so that all the pages together hold about
// `budget` bytes (at most 256 entries, at least one; 4 for a first page, before any entry size
// is known). A page Redis does not answer within 5 s is a gap.
boost::asio::awaitable<void> read_pages(sse_context& ctx, std::vector<history_source>& sources,
                                        const std::vector<std::string>& names, std::size_t budget);
// Bytes a buffered message is counted for.
std::size_t message_bytes(const sse_message& m);

struct replay_source {
  std::size_t channel;  // index in the subscriber's channels
  std::string from;     // the client's stream id for it ("0": the whole history)
};

// Replays into sub (which is not ready yet: live messages are held). Returns the indexes of
// the channels whose gap the history did not cover. Returns early when sub is closing.
boost::asio::awaitable<std::vector<std::size_t>> replay_history(sse_context& ctx, std::shared_ptr<sse_subscriber> sub,
                                                                std::vector<replay_source> sources);

}  // namespace tempest::front
