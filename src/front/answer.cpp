#include "front/answer.hpp"

#include "core/json_writer.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <strings.h>

namespace tempest::front {
namespace json = boost::json;

namespace {

bool is_framing_header(std::string_view name) {
  for (std::string_view f : {"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade"})
    if (name.size() == f.size() && strncasecmp(name.data(), f.data(), f.size()) == 0) return true;
  return false;
}

bool add_header(http_answer& out, std::string_view name, const json::value& v, std::string& why) {
  if (!v.is_string()) {
    why = "header '" + std::string(name) + "' must be a string or an array of strings";
    return false;
  }
  auto value = std::string_view(v.get_string());
  if (!is_safe_header_value(value)) {
    why = "header '" + std::string(name) + "' has CR, LF or NUL in its value";
    return false;
  }
  if (!is_framing_header(name)) out.headers.emplace_back(name, value);
  return true;
}

}  // namespace

bool parse_answer(std::string_view text, http_answer& out, std::string& why) {
  json::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) { why = "answer is not valid JSON: " + ec.message(); return false; }
  if (!doc.is_array() || doc.get_array().size() != 3) {
    why = "answer must be a JSON array of three items [status, headers, body]";
    return false;
  }
  auto& a = doc.get_array();
  if (!a[0].is_int64() || a[0].get_int64() < 200 || a[0].get_int64() > 599) {
    why = "status must be an integer from 200 to 599";
    return false;
  }
  out.status = static_cast<int>(a[0].get_int64());
  if (!a[1].is_object()) { why = "headers must be a JSON object"; return false; }
  out.headers.clear();
  for (auto& [key, v] : a[1].get_object()) {
    std::string_view name = key;
    if (!is_token(name)) { why = "header name '" + std::string(name) + "' is not a valid token"; return false; }
    if (v.is_array()) {
      for (auto& item : v.get_array())
        if (!add_header(out, name, item, why)) return false;
    } else if (!add_header(out, name, v, why)) {
      return false;
    }
  }
  if (a[2].is_string()) {
    out.body.assign(a[2].get_string().data(), a[2].get_string().size());
  } else if (a[2].is_object() && a[2].get_object().contains("base64") && a[2].get_object().at("base64").is_string()) {
    auto& b = a[2].get_object().at("base64").get_string();
    if (!base64_decode(std::string_view(b), out.body)) { why = "body.base64 is not valid base64"; return false; }
  } else if (a[2].is_null()) {
    out.body.clear();
  } else {
    why = "body must be a string or {\"base64\": \"...\"}";
    return false;
  }
  return true;
}

}  // namespace tempest::front
