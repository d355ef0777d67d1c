// Parsing and validating a worker's answer (the rules are in answer.hpp and protocol.md 2.2).
#include "front/answer.hpp"

#include "core/json_writer.hpp"

#include <boost/beast/http/status.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <strings.h>

#include <charconv>
#include <cmath>

namespace tempest::front {
namespace json = boost::json;

namespace {

// A header value as text: a string, or a JSON number as its decimal text (the 2012 Python
// client sends 'Content-length': len(body); the 2012 front wrote numbers as JavaScript prints them).
bool header_text(const json::value& v, std::string& text) {
  char digits[32];
  std::to_chars_result r{};
  if (v.is_string()) {
    text.assign(v.get_string().data(), v.get_string().size());
    return true;
  } else if (v.is_int64()) {
    r = std::to_chars(digits, digits + sizeof digits, v.get_int64());
  } else if (v.is_uint64()) {
    r = std::to_chars(digits, digits + sizeof digits, v.get_uint64());
  } else if (v.is_double() && std::isfinite(v.get_double())) {
    r = std::to_chars(digits, digits + sizeof digits, v.get_double());  // shortest form: 1.5, 3
  } else {
    return false;
  }
  if (r.ec != std::errc{}) return false;
  text.assign(digits, r.ptr);
  return true;
}

bool add_header(http_answer& out, std::string_view name, const json::value& v, std::string& why) {
  std::string value;
  if (!header_text(v, value)) {
    why = "header '" + std::string(name) + "' must be a string, a number or an array of those";
    return false;
  }
  if (!is_safe_header_value(value)) {
    why = "header '" + std::string(name) + "' has a control character (other than tab) in its value";
    return false;
  }
  if (!is_framing_header(name)) out.headers.emplace_back(name, std::move(value));
  return true;
}

bool status_number(std::int64_t n, int& status) {
  if (n < 200 || n > 599) return false;
  status = static_cast<int>(n);
  return true;
}

// A status as the 2012 front took it too: a string of three decimal digits.
bool status_text(std::string_view s, int& status) {
  std::int64_t n = 0;
  if (s.size() != 3) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  return ec == std::errc{} && p == s.data() + s.size() && status_number(n, status);
}

// status: an integer, or that text.
bool parse_status(const json::value& v, int& status) {
  if (v.is_int64()) return status_number(v.get_int64(), status);
  return v.is_string() && status_text(v.get_string(), status);
}

bool parse_headers(const json::value& v, http_answer& out, std::string& why) {
  if (!v.is_object()) { why = "headers must be a JSON object"; return false; }
  out.headers.clear();
  for (auto& [key, value] : v.get_object()) {
    std::string_view name = key;
    if (!is_token(name)) { why = "header name '" + std::string(name) + "' is not a valid token"; return false; }
    if (value.is_array()) {
      for (auto& item : value.get_array())
        if (!add_header(out, name, item, why)) return false;
    } else if (!add_header(out, name, value, why)) {
      return false;
    }
  }
  return true;
}

bool parse_body(const json::value& v, http_answer& out, std::string& why) {
  if (v.is_string()) {
    out.body.assign(v.get_string().data(), v.get_string().size());
  } else if (v.is_object() && v.get_object().contains("base64") && v.get_object().at("base64").is_string()) {
    auto& b = v.get_object().at("base64").get_string();
    if (!base64_decode(std::string_view(b), out.body)) { why = "body.base64 is not valid base64"; return false; }
  } else if (v.is_null()) {
    out.body.clear();
  } else {
    why = "body must be a string or {\"base64\": \"...\"}";
    return false;
  }
  return true;
}

// The usual answer read in one pass with Boost.JSON's SAX parser, straight into the answer: no
// document, no allocation but the answer's own strings. It takes only what it can read exactly
// as parse_answer_document would: an integer or 3-digit status, at most max_names header names,
// none twice, string or number values (or arrays of them), a string or null body. On anything
// else (invalid JSON included) a handler call returns false and the document reader takes over,
// so results and reasons are that reader's (tests/unit/front/answer_test.cpp and the fuzz
// target check the two agree). Callgrind, hello_worker's answer: 3,800 instructions and 5
// allocations with the document, 2,200 and none in one pass.
class answer_handler {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);
  static constexpr std::size_t max_names = 32;

  explicit answer_handler(http_answer& out) : out_(out) {}

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code& ec) { return ended_ || other(ec); }
  bool on_array_begin(json::error_code& ec) {
    if (at_ == where::start) { at_ = where::top; return true; }
    if (at_ == where::header_value) { at_ = where::header_items; return true; }
    return other(ec);
  }
  bool on_array_end(std::size_t n, json::error_code& ec) {
    if (at_ == where::header_items) {
      at_ = where::headers;
      name_.clear();
      return true;
    }
    if (at_ != where::top || n < 2) return other(ec);
    if (n == 2) out_.body.clear();
    ended_ = true;
    return true;
  }
  bool on_object_begin(json::error_code& ec) {
    if (at_ != where::top || index_ != 1) return other(ec);
    out_.headers.clear();
    names_ = 0;
    at_ = where::headers;
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    at_ = where::top;
    ++index_;
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    name_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    name_.append(s.data(), s.size());
    if (!is_token(name_) || ++names_ > max_names) return other(ec);
    for (auto& h : out_.headers)
      if (h.first == name_) return other(ec);  // a name twice: the document keeps the last
    at_ = where::header_value;
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    text_.append(s.data(), s.size());
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code& ec) {
    std::string_view whole(s.data(), s.size());
    if (!text_.empty()) whole = text_.append(whole);
    bool ok = at_ == where::top ? top_string(whole) : header(whole);
    text_.clear();
    return ok || other(ec);
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t v, json::string_view, json::error_code& ec) {
    if (at_ == where::top && index_ == 0) {
      if (!status_number(v, out_.status)) return other(ec);
      ++index_;
      return true;
    }
    return number(v, ec);
  }
  bool on_uint64(std::uint64_t v, json::string_view, json::error_code& ec) { return number(v, ec); }
  bool on_double(double v, json::string_view, json::error_code& ec) {
    return std::isfinite(v) ? number(v, ec) : other(ec);
  }
  bool on_bool(bool, json::error_code& ec) { return other(ec); }
  bool on_null(json::error_code& ec) {
    if (at_ != where::top || index_ != 2) return other(ec);
    out_.body.clear();
    ++index_;
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code& ec) { return other(ec); }
  bool on_comment(json::string_view, json::error_code& ec) { return other(ec); }

 private:
  enum class where { start, top, headers, header_value, header_items };

  // Not this reader's: stop, and let the document reader say what it is.
  static bool other(json::error_code& ec) {
    ec = json::make_error_code(json::error::exception);
    return false;
  }
  bool top_string(std::string_view s) {
    if (index_ == 0) {
      if (!status_text(s, out_.status)) return false;
    } else if (index_ == 2) {
      out_.body.assign(s);
    } else {
      return false;
    }
    ++index_;
    return true;
  }
  bool header(std::string_view value) {
    if (at_ != where::header_value && at_ != where::header_items) return false;
    if (!is_safe_header_value(value)) return false;
    if (!is_framing_header(name_)) out_.headers.emplace_back(name_, value);
    return value_done();
  }
  template <class T>
  bool number(T v, json::error_code& ec) {
    char digits[32];
    auto r = std::to_chars(digits, digits + sizeof digits, v);
    if (r.ec != std::errc{} || !header(std::string_view(digits, r.ptr))) return other(ec);
    return true;
  }
  bool value_done() {
    if (at_ == where::header_value) {
      at_ = where::headers;
      name_.clear();
    }
    return true;
  }

  http_answer& out_;
  where at_ = where::start;
  std::size_t index_ = 0;  // the top array's item being read
  std::size_t names_ = 0;  // header names so far
  bool ended_ = false;
  std::string name_;       // the header name being read (and its parts)
  std::string text_;       // a string's parts, when it came in several
};

}  // namespace

bool parse_answer(std::string_view text, http_answer& out, std::string& why) {
  json::basic_parser<answer_handler> p(json::parse_options{}, out);
  json::error_code ec;
  std::size_t n = p.write_some(false, text.data(), text.size(), ec);
  if (!ec && n == text.size()) return true;
  return parse_answer_document(text, out, why);
}

bool declared_length(std::string_view head_json, std::uint64_t& length, std::string& why) {
  json::error_code ec;
  json::value doc = json::parse(head_json, ec);
  if (ec || !doc.is_array() || doc.get_array().size() < 2 || !doc.get_array()[1].is_object()) return true;
  bool found = false;
  for (const auto& [key, v] : doc.get_array()[1].get_object()) {
    if (key.size() != 14 || strncasecmp(key.data(), "content-length", 14) != 0) continue;
    why = "Content-Length must be one decimal number";
    if (found) return false;
    found = true;
    if (v.is_uint64() || (v.is_int64() && v.get_int64() >= 0)) {
      length = v.is_uint64() ? v.get_uint64() : static_cast<std::uint64_t>(v.get_int64());
      continue;
    }
    if (!v.is_string()) return false;
    std::string_view text = v.get_string();
    std::uint64_t n = 0;
    auto [p, e] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || text[0] == '+' || text[0] == '-' || e != std::errc{} || p != text.data() + text.size()) return false;
    length = n;
  }
  return true;
}

bool is_framing_header(std::string_view name) {
  static constexpr std::string_view framing[] = {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"};
  for (std::string_view f : framing)
    if (name.size() == f.size() && strncasecmp(name.data(), f.data(), f.size()) == 0) return true;
  return false;
}

bool parse_answer_document(std::string_view text, http_answer& out, std::string& why) {
  // The document lives only for this call: its nodes come from a buffer on the stack (and past
  // it, from blocks freed all at once), not one heap allocation each.
  unsigned char scratch[4096];
  json::monotonic_resource nodes(scratch, sizeof scratch);
  json::error_code ec;
  json::value doc = json::parse(text, ec, &nodes);
  if (ec) { why = "answer is not valid JSON: " + ec.message(); return false; }
  auto* a = doc.if_array();
  if (!a || a->size() < 2 || a->size() > 3) {
    why = "answer must be a JSON array [status, headers, body] (or [status, headers])";
    return false;
  }
  if (!parse_status((*a)[0], out.status)) {
    why = "status must be an integer from 200 to 599";
    return false;
  }
  if (!parse_headers((*a)[1], out, why)) return false;
  if (a->size() == 2) {
    out.body.clear();
    return true;
  }
  return parse_body((*a)[2], out, why);
}

std::string_view reason_phrase(int status) {
  namespace http = boost::beast::http;
  auto known = http::obsolete_reason(static_cast<http::status>(status));
  if (known != "<unknown-status>") return {known.data(), known.size()};
  // RFC 9110 15: the classes' names; a client treats an unknown code as the class's x00.
  switch (status / 100) {
    case 1: return "Informational";
    case 2: return "Successful";
    case 3: return "Redirection";
    case 4: return "Client Error";
    default: return "Server Error";
  }
}

}  // namespace tempest::front
