// RESP (the Redis protocol, version 2): formatting commands (through hiredis) and reading
// replies or commands from a byte stream (resp_reader, our own). Used by the front's Redis
// client, the answer endpoint and the worker library. Nothing here does I/O.
//
//   std::string wire = format_command({"RPUSH", "tempest", job});
//   resp_reader r(max_message);  r.feed(bytes);  while (auto m = r.next()) ... m->str ...
//   resp_reader c(resp_limits{...commands...});  // the server side: commands from peers
//   while (auto cmd = c.next_command()) ... cmd->args[0] ...  // views, no copy
//
// Why resp_reader is not hiredis's reader: Debian 12's hiredis (0.14.1) has no maxelements and
// callocs an array's element table as soon as its header arrives, so the 14 bytes
// "*2147483647\r\n" cost 16 GiB of address space and seconds of freeing; it also cannot step
// over a bulk string it will not keep. resp_reader checks every length a peer declares against
// resp_limits before it allocates anything, never sizes a container from a declared count, and
// so a message costs memory in proportion to the bytes that arrived for it.
//
// Limits (resp_limits), each checked when the header that declares the length arrives:
//   max_message   bytes of one top-level message, counted exactly (headers, data and CRLFs):
//                 a message of max_message bytes passes, one of max_message + 1 does not;
//   max_elements  items in one array; a larger "*N" is a protocol error;
//   max_depth     arrays nested in arrays (1: flat arrays, as commands are).
// Past max_message the stream is unusable (error()), unless skip_oversized is set: then the
// bulk strings that do not fit are read and dropped as they arrive (never buffered) and
// delivered as kind::skipped, and the next message is read normally (the answer endpoint fails
// one oversized answer and keeps the connection; docs/protocol.md 3.4).
//
// With commands set, every message must be an array of bulk strings, as Redis requires of its
// clients; with accept_inline too, a message that does not start with '*' is an inline command
// ("PING\r\n", as typed into telnet), split on spaces.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct redisReply;

namespace tempest {

// A command as RESP (an array of bulk strings), the bytes hiredis would write.
std::string format_command(std::span<const std::string_view> argv);
// The same, appended to out; the parts of a command given in several spans (e.g. EVALSHA's
// name, sha, key count, then the keys, then the arguments).
void append_command(std::string& out, std::initializer_list<std::span<const std::string_view>> parts);
inline std::string format_command(std::initializer_list<std::string_view> argv) {
  return format_command(std::span<const std::string_view>(argv.begin(), argv.size()));
}

// One parsed RESP value (a reply, or a command: an array of bulk strings).
struct resp_value {
  // skipped: a bulk string dropped for not fitting in max_message (resp_limits::skip_oversized);
  // integer holds its declared length, str is empty.
  enum class kind { string, status, error, integer, nil, array, skipped };
  kind type = kind::nil;
  std::string str;  // string, status and error text
  long long integer = 0;
  std::vector<resp_value> elements;

  bool is_error() const { return type == kind::error; }
};

struct resp_limits {
  std::size_t max_message = 512u << 20;  // bytes in one top-level message (Redis's own bulk limit)
  std::size_t max_elements = 1u << 24;   // items in one array ("*N")
  std::size_t max_depth = 8;             // nesting of arrays; 1: flat arrays only
  std::size_t max_inline = 64 * 1024;    // bytes in one inline command line (Redis's limit)
  bool commands = false;                 // each message is an array of bulk strings (or inline)
  bool accept_inline = false;            // with commands: lines not starting with '*' are commands
  bool skip_oversized = false;           // drop bulks that do not fit instead of failing the stream
};

class resp_reader {
 public:
  explicit resp_reader(const resp_limits& limits);
  // The short form (kept for callers and the fuzz harness): without accept_inline, any RESP2
  // value (replies from Redis); with it, commands from peers (flat arrays of bulk strings, or
  // inline lines, at most 2^20 items as in Redis).
  explicit resp_reader(std::size_t max_message, bool accept_inline = false);
  resp_reader(const resp_reader&) = delete;
  resp_reader& operator=(const resp_reader&) = delete;

  void feed(const char* data, std::size_t n);
  // The next complete value, or nullopt when more bytes are needed. On a protocol error or
  // an oversized message returns nullopt and error() is set; the stream is then unusable.
  std::optional<resp_value> next();

  // With limits().commands: the next command as views of its arguments, the same commands,
  // errors and limits as next(). The views stay valid until the next call to feed(), next()
  // or next_command(). A command of bulks within the limits is read where it lies once all
  // its bytes are buffered (no copy, no allocation: the answer endpoint's usual case, and a
  // streamed chunk arriving in many reads); an inline one, or one with a skipped or oversized
  // bulk, goes through next(). A skipped bulk's view is
  // empty and sets `skipped`.
  struct command {
    std::span<const std::string_view> args;
    bool skipped = false;
  };
  std::optional<command> next_command();
  const std::string& error() const { return error_; }

  // New limits, for the values read from now on (call it between messages, e.g. once a peer
  // has authenticated).
  void set_limits(const resp_limits& limits) { limits_ = limits; }
  const resp_limits& limits() const { return limits_; }
  // Bytes fed and not consumed yet.
  std::size_t buffered() const { return buf_.size() - pos_; }

 private:
  enum class step { value, more, failed };
  struct frame {
    resp_value array;
    long long left;  // items still to come
  };

  step read_one(std::optional<resp_value>& done);
  step read_line_value(std::optional<resp_value>& done);
  step read_array(long long n, std::optional<resp_value>& done);
  step read_bulk_header(long long n, std::optional<resp_value>& done);
  step read_bulk_data(std::optional<resp_value>& done);
  step read_inline(std::optional<resp_value>& done);
  step complete(resp_value v, std::optional<resp_value>& done);
  // next_command's fast path: a whole "*N" message of bulks at pos_, within the limits, read
  // into views_ (read); the start of one whose bytes have not all arrived (incomplete: nothing
  // consumed, wait for more); anything else (other: nothing consumed) is next()'s to read.
  enum class in_place { read, incomplete, other };
  in_place read_in_place();
  // Finds the line at pos_ (ended by CRLF, or by LF for inline); its length, or npos.
  std::size_t find_line(bool lf_only);
  step fail(std::string why);
  step too_large();
  void compact();

  resp_limits limits_;
  std::string buf_;        // bytes fed; those before pos_ are consumed
  std::size_t pos_ = 0;
  std::size_t scanned_ = 0;       // bytes after pos_ known to hold no line end
  bool in_message_ = false;       // the first byte of the current message was consumed
  bool inline_ = false;           // the current message is an inline command
  std::size_t msg_bytes_ = 0;     // bytes of the current message counted so far
  bool msg_over_ = false;         // the current message went past max_message (skip mode)
  std::vector<frame> stack_;      // open arrays of the current message, outermost first
  bool in_bulk_ = false;          // a bulk header was read; its data and CRLF are awaited
  bool bulk_skip_ = false;        // ... and its data is dropped as it arrives
  std::size_t bulk_len_ = 0;      // declared length of that bulk
  std::size_t skip_left_ = 0;     // bytes of it still to drop
  std::string error_;
  std::vector<std::string_view> views_;  // next_command's arguments
  resp_value held_;                       // the command they view when it came from next()
};

resp_value convert_reply(const redisReply* r);

}  // namespace tempest
