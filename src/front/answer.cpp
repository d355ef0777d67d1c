// Parsing and validating a worker's answer (the rules are in answer.hpp and protocol.md 2.2).
#include "front/answer.hpp"

#include "core/json_writer.hpp"

#include <boost/beast/http/status.hpp>
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

// status: an integer, or (as the 2012 front took it) a string of three decimal digits.
bool parse_status(const json::value& v, int& status) {
  std::int64_t n = 0;
  if (v.is_int64()) {
    n = v.get_int64();
  } else if (v.is_string() && v.get_string().size() == 3) {
    std::string_view s = v.get_string();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc{} || p != s.data() + s.size()) return false;
  } else {
    return false;
  }
  if (n < 200 || n > 599) return false;
  status = static_cast<int>(n);
  return true;
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

}  // namespace

bool is_framing_header(std::string_view name) {
  for (std::string_view f : {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"})
    if (name.size() == f.size() && strncasecmp(name.data(), f.data(), f.size()) == 0) return true;
  return false;
}

bool parse_answer(std::string_view text, http_answer& out, std::string& why) {
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

std::string_view fallback_reason(int status) {
  namespace http = boost::beast::http;
  if (http::obsolete_reason(static_cast<http::status>(status)) != "<unknown-status>") return {};
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
