// A small streaming JSON writer: appends to a std::string, no DOM, no per-value allocation.
// Used on the hot path (job encoding in the front, answers in the worker library); parsing
// stays with Boost.JSON, which has no streaming writer in 1.81.
//
//   json_writer w(out);
//   w.begin_array(); w.string("url"); w.begin_object(); w.key("method"); w.string("GET");
//   w.end_object(); w.number(42); w.end_array();
//
// string() requires valid UTF-8 (check with is_valid_utf8; binary data travels as base64,
// see docs/protocol.md). Nesting depth is bounded (32); the writer asserts on misuse.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace tempest {

class json_writer {
 public:
  explicit json_writer(std::string& out) : out_(out) {}

  void begin_array() { value_prefix(); out_.push_back('['); push(); }
  void end_array() { pop(); out_.push_back(']'); }
  void begin_object() { value_prefix(); out_.push_back('{'); push(); }
  void end_object() { pop(); out_.push_back('}'); }
  void key(std::string_view k);  // inside an object: "k":
  void string(std::string_view s);
  void number(std::int64_t n);
  void boolean(bool b);
  void null();
  void raw(std::string_view json);  // an already-encoded JSON value

 private:
  void value_prefix();
  void push();
  void pop();

  std::string& out_;
  std::uint32_t need_comma_ = 0;  // one bit per nesting level
  int depth_ = 0;
  bool after_key_ = false;
};

// Appends s as a quoted JSON string, escaping what RFC 8259 requires.
void append_json_string(std::string& out, std::string_view s);
bool is_valid_utf8(std::string_view s);
std::string base64_encode(std::string_view bytes);
// Returns false on characters outside the standard alphabet; padding is optional.
bool base64_decode(std::string_view text, std::string& out);

}  // namespace tempest
