// RESP formatting and the bounded streaming reader (see resp.hpp for why it is ours).
//
// The reader is a resumable parser: feed() only appends bytes; next() consumes whole elements
// and keeps its place (open arrays in stack_, a bulk string whose data is awaited in in_bulk_)
// so that a message arriving in many pieces is parsed once. Wire forms (RESP2):
//   +text\r\n  -text\r\n  :123\r\n  $<len>\r\n<len bytes>\r\n  $-1\r\n (nil)
//   *<count>\r\n<count values>  *-1\r\n (nil)
// A length line is at most max_header_line bytes; a declared length is checked before any byte
// of the data is buffered, and arrays grow only as their items arrive.
#include "core/resp.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace tempest {

namespace {
void append_length_line(std::string& out, char kind, std::size_t n) {
  char line[24];
  line[0] = kind;
  auto [end, ec] = std::to_chars(line + 1, line + sizeof line - 2, n);
  *end++ = '\r';
  *end++ = '\n';
  out.append(line, end);
}
}  // namespace

// The same bytes as hiredis's redisFormatCommandArgv, written straight into the string: that
// one allocates twice, formats each length with sprintf and is copied once more, about 1,500
// instructions per command on the front's push path (callgrind).
void append_command(std::string& out, std::initializer_list<std::span<const std::string_view>> parts) {
  std::size_t items = 0, size = out.size() + 16;
  for (auto part : parts) {
    items += part.size();
    for (auto a : part) size += a.size() + 24;
  }
  out.reserve(size);
  append_length_line(out, '*', items);
  for (auto part : parts)
    for (auto a : part) {
      append_length_line(out, '$', a.size());
      out.append(a);
      out.append("\r\n");
    }
}

std::string format_command(std::span<const std::string_view> argv) {
  std::string out;
  append_command(out, {argv});
  return out;
}

resp_value convert_reply(const redisReply* r) {
  resp_value v;
  switch (r->type) {
    case REDIS_REPLY_STRING: v.type = resp_value::kind::string; v.str.assign(r->str, r->len); break;
    case REDIS_REPLY_STATUS: v.type = resp_value::kind::status; v.str.assign(r->str, r->len); break;
    case REDIS_REPLY_ERROR: v.type = resp_value::kind::error; v.str.assign(r->str, r->len); break;
    case REDIS_REPLY_INTEGER: v.type = resp_value::kind::integer; v.integer = r->integer; break;
    case REDIS_REPLY_ARRAY:
      v.type = resp_value::kind::array;
      v.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) v.elements.push_back(convert_reply(r->element[i]));
      break;
    default: v.type = resp_value::kind::nil; break;
  }
  return v;
}

namespace {

// "*", "$" or ":" and a 64-bit number (20 characters at most) fit in this.
constexpr std::size_t max_header_line = 32;
// Consumed bytes are dropped from the buffer once they are this many and half of it.
constexpr std::size_t compact_after = 64 * 1024;

bool parse_number(std::string_view s, long long& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc{} && p == s.data() + s.size();
}

std::string printable(char c) {
  if (c >= 0x20 && c < 0x7f) return std::string(1, c);
  char hex[8];
  std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(c));
  return hex;
}

resp_limits short_form_limits(std::size_t max_message, bool accept_inline) {
  resp_limits l;
  l.max_message = max_message;
  if (accept_inline) {
    l.commands = true;
    l.accept_inline = true;
    l.max_depth = 1;
    l.max_elements = 1u << 20;
  }
  return l;
}

}  // namespace

resp_reader::resp_reader(const resp_limits& limits) : limits_(limits) {}

resp_reader::resp_reader(std::size_t max_message, bool accept_inline)
    : limits_(short_form_limits(max_message, accept_inline)) {}

void resp_reader::feed(const char* data, std::size_t n) {
  if (!error_.empty() || n == 0) return;
  buf_.append(data, n);
}

std::optional<resp_value> resp_reader::next() {
  std::optional<resp_value> done;
  while (error_.empty()) {
    if (read_one(done) != step::value) break;
    if (done) break;
  }
  compact();
  return done;
}

std::optional<resp_reader::command> resp_reader::next_command() {
  compact();  // what the previous command's views pointed at is consumed
  views_.clear();
  if (error_.empty()) {
    auto r = read_in_place();
    if (r == in_place::read) return command{views_, false};
    // A well-formed command within the limits whose bytes are still coming: wait for them
    // rather than copy its pieces into a value (a streamed chunk is one large bulk).
    if (r == in_place::incomplete) return std::nullopt;
  }
  auto v = next();
  if (!v) return std::nullopt;
  held_ = std::move(*v);
  views_.clear();  // a partial read_in_place may have left some
  command c;
  for (auto& e : held_.elements) {
    views_.push_back(e.str);
    c.skipped = c.skipped || e.type == resp_value::kind::skipped;
  }
  c.args = views_;
  return c;
}

resp_reader::in_place resp_reader::read_in_place() {
  if (!limits_.commands || in_message_ || in_bulk_ || pos_ == buf_.size() || buf_[pos_] != '*') return in_place::other;
  const char* start = buf_.data() + pos_;
  const char* end = buf_.data() + buf_.size();
  const char* p = start;
  // A length line after its type byte: digits, CRLF, no longer than a length line may be.
  // incomplete: its end has not arrived yet.
  auto length_line = [&](char type, long long& n) {
    if (p == end) return in_place::incomplete;
    if (*p != type) return in_place::other;
    std::size_t room = std::min<std::size_t>(end - p, max_header_line + 2);
    const char* lf = static_cast<const char*>(std::memchr(p, '\n', room));
    if (!lf) return room < max_header_line + 2 ? in_place::incomplete : in_place::other;
    if (lf - p < 2 || lf[-1] != '\r' || !parse_number(std::string_view(p + 1, lf - 1 - (p + 1)), n))
      return in_place::other;
    p = lf + 1;
    return in_place::read;
  };
  long long items = 0;
  if (auto r = length_line('*', items); r != in_place::read) return r;
  if (items <= 0 || static_cast<unsigned long long>(items) > limits_.max_elements) return in_place::other;
  for (long long i = 0; i < items; ++i) {
    long long len = 0;
    if (auto r = length_line('$', len); r != in_place::read) return r;
    if (len < 0) return in_place::other;
    auto n = static_cast<std::size_t>(len);
    // A message that would pass the limit is next()'s to refuse (or skip), never awaited here.
    if (static_cast<std::size_t>(p - start) + n + 2 > limits_.max_message) return in_place::other;
    if (static_cast<std::size_t>(end - p) < n + 2) return in_place::incomplete;
    if (p[n] != '\r' || p[n + 1] != '\n') return in_place::other;
    views_.emplace_back(p, n);
    p += n + 2;
  }
  pos_ += static_cast<std::size_t>(p - start);
  scanned_ = 0;
  return in_place::read;
}

void resp_reader::compact() {
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
    if (buf_.capacity() > 4 * compact_after) buf_.shrink_to_fit();
  } else if (pos_ >= compact_after && pos_ * 2 >= buf_.size()) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
}

resp_reader::step resp_reader::fail(std::string why) {
  error_ = std::move(why);
  return step::failed;
}

resp_reader::step resp_reader::too_large() {
  return fail("message larger than the limit of " + std::to_string(limits_.max_message) + " bytes");
}

std::size_t resp_reader::find_line(bool lf_only) {
  const char* start = buf_.data() + pos_;
  std::size_t avail = buf_.size() - pos_;
  const void* lf = std::memchr(start + scanned_, '\n', avail - scanned_);
  if (!lf) {
    scanned_ = avail;
    return std::string::npos;
  }
  std::size_t at = static_cast<std::size_t>(static_cast<const char*>(lf) - start);
  scanned_ = 0;
  if (lf_only) return at;
  if (at == 0 || start[at - 1] != '\r') {
    fail("line not ended by CRLF");
    return std::string::npos;
  }
  return at - 1;
}

// One step: an element, a bulk's data, or an inline line; sets done when a message completes.
resp_reader::step resp_reader::read_one(std::optional<resp_value>& done) {
  if (in_bulk_) return read_bulk_data(done);
  if (pos_ == buf_.size()) return step::more;
  if (!in_message_) {
    in_message_ = true;
    msg_bytes_ = 0;
    msg_over_ = false;
    inline_ = limits_.commands && limits_.accept_inline && buf_[pos_] != '*';
  }
  if (inline_) return read_inline(done);
  return read_line_value(done);
}

resp_reader::step resp_reader::read_line_value(std::optional<resp_value>& done) {
  char type = buf_[pos_];
  bool length_line = type == '*' || type == '$' || type == ':';
  if (limits_.commands) {
    char want = stack_.empty() ? '*' : '$';
    if (type != want) return fail("expected '" + std::string(1, want) + "', got '" + printable(type) + "'");
  } else if (!length_line && type != '+' && type != '-') {
    return fail("unknown value type '" + printable(type) + "'");
  }
  // A length line is short; a status or error line may not run past the message limit.
  std::size_t len = find_line(false);  // without its CRLF
  if (!error_.empty()) return step::failed;
  if (len == std::string::npos) {
    if (length_line && scanned_ > max_header_line + 1) return fail("length line too long");
    if (!length_line && msg_bytes_ + scanned_ > limits_.max_message) return too_large();
    return step::more;
  }
  if (length_line && len > max_header_line) return fail("length line too long");
  if (msg_bytes_ + len + 2 > limits_.max_message) {
    if (!length_line || !limits_.skip_oversized) return too_large();
    msg_over_ = true;  // the data of the bulks still to come is dropped
  }
  std::string_view text(buf_.data() + pos_ + 1, len - 1);
  pos_ += len + 2;
  msg_bytes_ += len + 2;
  resp_value v;
  if (type == '+' || type == '-') {
    v.type = type == '+' ? resp_value::kind::status : resp_value::kind::error;
    v.str.assign(text);
    return complete(std::move(v), done);
  }
  long long n = 0;
  if (!parse_number(text, n)) return fail(type == '*' ? "invalid multibulk length" : type == '$' ? "invalid bulk length" : "invalid integer");
  if (type == '*') return read_array(n, done);
  if (type == '$') return read_bulk_header(n, done);
  v.type = resp_value::kind::integer;
  v.integer = n;
  return complete(std::move(v), done);
}

resp_reader::step resp_reader::read_array(long long n, std::optional<resp_value>& done) {
  resp_value v;
  if (n == -1 && !limits_.commands) return complete(std::move(v), done);  // nil
  if (n < -1 || (n > 0 && static_cast<unsigned long long>(n) > limits_.max_elements))
    return fail("invalid multibulk length");
  v.type = resp_value::kind::array;
  if (n <= 0) return complete(std::move(v), done);  // "*0" (and "*-1" from a client: nothing)
  if (stack_.size() >= limits_.max_depth) return fail("arrays nested too deeply");
  // No reserve(n): the items are counted as they arrive, and only they cost memory.
  stack_.push_back(frame{std::move(v), n});
  return step::value;
}

resp_reader::step resp_reader::read_bulk_header(long long n, std::optional<resp_value>& done) {
  if (n == -1 && !limits_.commands) return complete(resp_value{}, done);  // nil
  if (n < 0) return fail("invalid bulk length");
  auto len = static_cast<unsigned long long>(n);
  in_bulk_ = true;
  bulk_len_ = static_cast<std::size_t>(len);
  bulk_skip_ = msg_over_ || len + 2 > limits_.max_message - std::min(msg_bytes_, limits_.max_message);
  if (bulk_skip_) {
    if (!limits_.skip_oversized) return too_large();
    msg_over_ = true;
    skip_left_ = bulk_len_;
  }
  return step::value;
}

resp_reader::step resp_reader::read_bulk_data(std::optional<resp_value>& done) {
  if (bulk_skip_ && skip_left_ > 0) {
    std::size_t take = std::min(skip_left_, buf_.size() - pos_);
    pos_ += take;
    skip_left_ -= take;
    if (skip_left_ > 0) return step::more;
  }
  std::size_t need = bulk_skip_ ? 2 : bulk_len_ + 2;
  if (buf_.size() - pos_ < need) return step::more;
  if (buf_[pos_ + need - 2] != '\r' || buf_[pos_ + need - 1] != '\n') return fail("bulk string not ended by CRLF");
  resp_value v;
  if (bulk_skip_) {
    v.type = resp_value::kind::skipped;
    v.integer = static_cast<long long>(bulk_len_);
  } else {
    v.type = resp_value::kind::string;
    v.str.assign(buf_, pos_, bulk_len_);
    msg_bytes_ += need;
  }
  pos_ += need;
  in_bulk_ = false;
  return complete(std::move(v), done);
}

resp_reader::step resp_reader::read_inline(std::optional<resp_value>& done) {
  std::size_t eol = find_line(true);
  std::size_t max_line = std::min(limits_.max_inline, limits_.max_message);
  if (eol == std::string::npos) return scanned_ > max_line ? fail("too big inline request") : step::more;
  if (eol > max_line) return fail("too big inline request");
  std::string_view line(buf_.data() + pos_, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  resp_value cmd;
  cmd.type = resp_value::kind::array;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ') ++j;
    if (j > i) {
      if (cmd.elements.size() >= limits_.max_elements) return fail("invalid multibulk length");
      resp_value arg;
      arg.type = resp_value::kind::string;
      arg.str.assign(line.substr(i, j - i));
      cmd.elements.push_back(std::move(arg));
    }
    i = j;
  }
  pos_ += eol + 1;
  return complete(std::move(cmd), done);
}

// An element is complete: it fills its array, which may complete its own, up to the message.
resp_reader::step resp_reader::complete(resp_value v, std::optional<resp_value>& done) {
  while (!stack_.empty()) {
    frame& top = stack_.back();
    top.array.elements.push_back(std::move(v));
    if (--top.left > 0) return step::value;
    v = std::move(top.array);
    stack_.pop_back();
  }
  done = std::move(v);
  in_message_ = false;
  inline_ = false;
  return step::value;
}

}  // namespace tempest
