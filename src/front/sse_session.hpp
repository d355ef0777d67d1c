// The start of a Server-Sent Events stream: GET <--sub-prefix><channel>[,<channel>...].
// Checks the request (method 405, channel names 400, --sub-allow 403, Redis 503), registers an
// sse_subscriber with the thread's channel_hub, waits for Redis to confirm the subscriptions,
// writes the response head, "retry:" and the cursor, replays the history after Last-Event-ID
// (or ?lastEventId=) in pages as the client reads (sse_replay.hpp), then hands the connection
// to the hub for live messages.
// Cursor: "<channel>=<stream id>" per channel, joined by ",", the event's channel first.
#pragma once
#include "front/job_encode.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace tempest::front {

struct sse_context;
struct front_config;

bool is_sse_target(const front_config& cfg, std::string_view target);
// Takes the connection: the HTTP session ends after this.
boost::asio::awaitable<void> run_sse(sse_context& ctx, boost::asio::ip::tcp::socket socket, http_request req);

// Pure helpers (unit-tested).
bool valid_channel_name(std::string_view name);
// "a,b" -> {"a","b"}; false on an empty or invalid name, or more than 16.
bool split_channels(std::string_view list, std::vector<std::string>& out);
// "a=1-0,b=0" -> pairs; malformed entries are skipped.
std::vector<std::pair<std::string, std::string>> parse_cursor(std::string_view text);
std::string percent_decode(std::string_view s);

}  // namespace tempest::front
