// Server-Sent Events, the pure part: decoding a pub/sub payload and writing event blocks.
//
// Payloads (docs/protocol.md, section 7; the original formats plus Tempest's recorded one):
//   ["data"]                      -> data
//   ["name", "data"]              -> event name, data
//   ["$unsubscribe"]              -> end of stream (event "end", empty data, then close)
//   [name|null, "data", "id"]     -> recorded by tempest publish: also a history id
//   anything else                 -> the payload itself as data
// Event block: "id: <cursor>\n" ["event: <name>\n"] "data: <line>\n"... "\n" (no event line for
// "message", the type EventSource gives an event without one: tempest publish names its
// unnamed events so, for the 2012 front's sake); data is split
// at CRLF, CR and LF as the SSE spec reads them. Names and ids lose any CR/LF.
#pragma once
#include <string>
#include <string_view>

namespace tempest::front {

struct sse_message {
  bool end = false;   // ["$unsubscribe"]
  std::string event;  // "" for the default ("message")
  std::string data;
  std::string id;     // the history (stream) id of a recorded message, else ""
};

sse_message decode_sse_message(std::string_view payload);

// Appends one event block. An empty cursor writes no id line.
void append_sse_event(std::string& out, std::string_view cursor, std::string_view event, std::string_view data);
// Appends an id-only block: sets the client's last event id without firing an event.
void append_sse_id(std::string& out, std::string_view cursor);

// Stream ids ("1732761600000-0") in order; "0" and "" are before every id.
bool stream_id_less(std::string_view a, std::string_view b);

}  // namespace tempest::front
