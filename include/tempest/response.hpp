// tempest::response: what an on_request handler fills in; the library sends it to the front.
//
//   res.status = 404;                               // 200 unless set
//   res.set_header("Content-Type", "text/plain");   // replaces a header of that name
//   res.add_header("Set-Cookie", "a=1");            // repeated headers: add_header again
//   res.body = "not found\n";                       // raw bytes; binary is fine
//
// Or streamed (docs/protocol.md 10): the head goes at once, the body as it is written.
//
//   res.set_header("Content-Type", "application/octet-stream");
//   auto& out = res.stream();                     // sends status and headers now
//   while (more) if (!out.write(next_block())) return;   // false: the client left (out.error())
//   out.end();                                    // or let the handler return: it ends the stream
//   hanging.push_back(out.keep());                // or keep it open for a tempest::fanout later
//
// On the wire (the answer [status, headers, body], docs/protocol.md; encoded by
// src/worker/job_codec.cpp): headers become a JSON object, a name given several times becomes an
// array of strings; a body that is not valid UTF-8 travels as {"base64": "..."}. A header whose
// name is not an HTTP token, or whose value holds CR, LF, NUL or invalid UTF-8, is dropped and
// logged; a status outside 200..599 (what the front accepts: 1xx are not final) is sent as 500.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tempest {

// A streamed response kept past its handler (body_stream::keep), for tempest::fanout.
struct stream_ref {
  std::string respond_to;  // the job's answer endpoint, "host:port"
  std::int64_t job_id = 0;
  bool operator==(const stream_ref&) const = default;
};

namespace detail {
struct response_access;
// Where a stream's commands go (the worker lane, src/worker/lane.cpp).
class stream_sink {
 public:
  // Sends `<command> <job id> [payload]` to respond_to, blocking while the front has no room;
  // false with why when the stream can take no more.
  virtual bool send_stream(std::string_view command, std::int64_t job_id, std::string_view respond_to,
                           std::string_view payload, std::string& why) = 0;
  // Waits until the front replied to every command sent so far on respond_to's connection;
  // false with why when the stream failed meanwhile.
  virtual bool sync_stream(std::int64_t job_id, std::string_view respond_to, std::string& why) = 0;

 protected:
  ~stream_sink() = default;
};
}  // namespace detail

// A streamed response body (docs/protocol.md 10), from response::stream(). Its calls block while
// the front holds --stream-buffer unsent bytes for a slow client (back-pressure), and report the
// end of the stream as a value: a write that returns false did not reach the client (it left,
// the front cut the stream, or the front is unreachable: error() says which), and every later
// call returns false at once. Valid during the handler call only, like the response.
class body_stream {
 public:
  // Sends bytes as one chunk: any bytes, a RESP bulk string on the wire (no JSON, no base64);
  // an empty write sends nothing. With a Content-Length header set before stream(), exactly
  // that many bytes must follow (more are cut, fewer close the connection: protocol.md 10.3).
  bool write(std::string_view bytes);
  // Completes the response (the handler's return does it too). false as write.
  bool end();
  // Gives up: the front closes the client's connection with the body cut short at once
  // (protocol.md 10.9), so the client knows the response is incomplete. A handler that throws
  // after stream() has its stream aborted. The stream is failed afterwards.
  void abort();
  // Keeps the stream open past the handler (docs/protocol.md 12.2), for writes later through a
  // tempest::fanout, alone or with other kept streams (hanging GETs): waits until the front has
  // taken what was sent so far, and returns the stream's reference; the handler's return then
  // does not end it. The stream stays writable here too until the handler returns. A failed
  // stream gives an empty respond_to (error() says why).
  stream_ref keep();
  bool kept() const noexcept { return kept_; }
  // True until a call failed.
  bool ok() const noexcept { return state_ != state::failed; }
  bool ended() const noexcept { return state_ == state::ended; }
  // Why the stream is over when !ok(): e.g. "ERR no open stream 42 (... the client left)".
  const std::string& error() const noexcept { return error_; }

 private:
  friend struct response;
  friend struct detail::response_access;
  enum class state { none, open, ended, failed };

  bool send(std::string_view command, std::string_view payload);

  detail::stream_sink* sink_ = nullptr;
  std::int64_t job_id_ = 0;
  std::string_view respond_to_;
  state state_ = state::none;
  bool kept_ = false;
  std::string error_;
};

struct response {
  int status = 200;                                         // crosses to the front: HTTP status, 200..599
  std::vector<std::pair<std::string, std::string>> headers; // crosses to the front: name, value
  std::string body;                                         // crosses to the front: raw bytes

  // Replaces every header of that name (case-insensitive) with this one.
  void set_header(std::string_view name, std::string_view value);
  // Adds a header, keeping those of the same name (Set-Cookie).
  void add_header(std::string_view name, std::string_view value) { headers.emplace_back(name, value); }
  // Back to 200, no headers, empty body, no stream; keeps the buffers' capacity.
  void clear() noexcept;

  // Streams the response instead of answering it whole: sends the head now (status, headers,
  // and a body set so far as the first bytes) and returns the stream for the rest. Later calls
  // return the same stream; the fields above are not sent again. When the job has no
  // respond_to, or the head was refused, the stream is failed (ok() false).
  body_stream& stream();
  // True once stream() was called: the handler's return then ends the stream instead of
  // sending the fields.
  bool streaming() const noexcept { return body_.state_ != body_stream::state::none; }

 private:
  friend struct detail::response_access;
  body_stream body_;
};

}  // namespace tempest
