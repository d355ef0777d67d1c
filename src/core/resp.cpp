#include "core/resp.hpp"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <cstdlib>
#include <stdexcept>

namespace tempest {

std::string format_command(std::span<const std::string_view> argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  ptrs.reserve(argv.size());
  lens.reserve(argv.size());
  for (auto a : argv) { ptrs.push_back(a.data()); lens.push_back(a.size()); }
  char* cmd = nullptr;
  int n = redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), ptrs.data(), lens.data());
  if (n < 0) throw std::bad_alloc();
  std::string out(cmd, static_cast<std::size_t>(n));
  redisFreeCommand(cmd);
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

resp_reader::resp_reader(std::size_t max_message, bool accept_inline)
    : reader_(redisReaderCreate()), max_message_(max_message), accept_inline_(accept_inline) {
  if (!reader_) throw std::bad_alloc();
}

resp_reader::~resp_reader() { redisReaderFree(reader_); }

void resp_reader::feed(const char* data, std::size_t n) {
  if (!error_.empty() || n == 0) return;
  if (!mode_known_) {
    inline_mode_ = accept_inline_ && data[0] != '*';
    mode_known_ = true;
  }
  pending_bytes_ += n;
  if (inline_mode_) {
    inline_buf_.append(data, n);
  } else if (redisReaderFeed(reader_, data, n) != REDIS_OK) {
    error_ = "protocol error";
  }
}

std::optional<resp_value> resp_reader::next_inline() {
  auto eol = inline_buf_.find('\n');
  if (eol == std::string::npos) {
    if (inline_buf_.size() > 65536) error_ = "inline command too long";
    return std::nullopt;
  }
  std::string line = inline_buf_.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::string rest = inline_buf_.substr(eol + 1);
  resp_value cmd;
  cmd.type = resp_value::kind::array;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ') ++j;
    if (j > i) {
      resp_value arg;
      arg.type = resp_value::kind::string;
      arg.str = line.substr(i, j - i);
      cmd.elements.push_back(std::move(arg));
    }
    i = j;
  }
  // The rest of the buffer may hold a RESP command: decide again from its first byte.
  inline_buf_.clear();
  mode_known_ = false;
  pending_bytes_ = 0;
  if (!rest.empty()) feed(rest.data(), rest.size());
  return cmd;
}

std::optional<resp_value> resp_reader::next() {
  if (!error_.empty()) return std::nullopt;
  if (!mode_known_) return std::nullopt;
  if (inline_mode_) return next_inline();
  void* reply = nullptr;
  if (redisReaderGetReply(reader_, &reply) != REDIS_OK) {
    error_ = reader_->errstr[0] ? reader_->errstr : "protocol error";
    return std::nullopt;
  }
  if (!reply) {
    if (pending_bytes_ > max_message_)
      error_ = "message larger than the limit of " + std::to_string(max_message_) + " bytes";
    return std::nullopt;
  }
  auto* r = static_cast<redisReply*>(reply);
  resp_value v = convert_reply(r);
  freeReplyObject(r);
  // Bytes still buffered in hiredis belong to the next message.
  pending_bytes_ = reader_->len - reader_->pos;
  if (pending_bytes_ == 0) mode_known_ = false;
  return v;
}

}  // namespace tempest
