// RESP (the Redis protocol) through hiredis: formatting commands and reading replies or
// commands from a byte stream. Used by the front's Redis client and answer endpoint, and by
// the worker library. Nothing here does I/O.
//
//   std::string wire = format_command({"RPUSH", "tempest", job});
//   resp_reader r(max_message);  r.feed(bytes);  while (auto m = r.next()) ... m->str ...
//
// resp_reader also accepts inline commands ("PING\r\n", as typed into telnet) when
// accept_inline is set, as Redis does.
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct redisReader;
struct redisReply;

namespace tempest {

std::string format_command(std::span<const std::string_view> argv);
inline std::string format_command(std::initializer_list<std::string_view> argv) {
  return format_command(std::span<const std::string_view>(argv.begin(), argv.size()));
}

// One parsed RESP value (a reply, or a command: an array of bulk strings).
struct resp_value {
  enum class kind { string, status, error, integer, nil, array };
  kind type = kind::nil;
  std::string str;  // string, status and error text
  long long integer = 0;
  std::vector<resp_value> elements;

  bool is_error() const { return type == kind::error; }
};

class resp_reader {
 public:
  // max_message: the largest single message accepted; past it next() reports an error.
  explicit resp_reader(std::size_t max_message, bool accept_inline = false);
  ~resp_reader();
  resp_reader(const resp_reader&) = delete;
  resp_reader& operator=(const resp_reader&) = delete;

  void feed(const char* data, std::size_t n);
  // The next complete value, or nullopt when more bytes are needed. On a protocol error or
  // an oversized message returns nullopt and error() is set; the stream is then unusable.
  std::optional<resp_value> next();
  const std::string& error() const { return error_; }

 private:
  std::optional<resp_value> next_inline();

  redisReader* reader_;
  std::size_t max_message_;
  bool accept_inline_;
  bool mode_known_ = false;  // the first byte of the current message was seen
  bool inline_mode_ = false;
  std::string inline_buf_;
  std::size_t pending_bytes_ = 0;  // bytes fed since the last complete message
  std::string error_;
};

resp_value convert_reply(const redisReply* r);

}  // namespace tempest
