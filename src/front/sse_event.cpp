#include "front/sse_event.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <charconv>
#include <cstdint>

namespace tempest::front {
namespace json = boost::json;

namespace {

std::string text_of(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  return json::serialize(v);
}

void append_clean(std::string& out, std::string_view s) {
  for (char c : s)
    if (c != '\r' && c != '\n') out.push_back(c);
}

void parse_stream_id(std::string_view s, std::uint64_t& ms, std::uint64_t& seq) {
  ms = seq = 0;
  auto dash = s.find('-');
  std::from_chars(s.data(), s.data() + std::min(dash, s.size()), ms);
  if (dash != std::string_view::npos) std::from_chars(s.data() + dash + 1, s.data() + s.size(), seq);
}

}  // namespace

sse_message decode_sse_message(std::string_view payload) {
  sse_message m;
  json::error_code ec;
  json::value v;
  if (!payload.empty() && payload.front() == '[') v = json::parse(payload, ec);
  if (ec || !v.is_array() || v.get_array().empty() || v.get_array().size() > 3) {
    m.data = std::string(payload);
    return m;
  }
  auto& a = v.get_array();
  if (a.size() == 1) {
    if (a[0].is_string() && a[0].get_string() == "$unsubscribe") m.end = true;
    else m.data = text_of(a[0]);
  } else if (a.size() == 2) {
    m.event = text_of(a[0]);
    m.data = text_of(a[1]);
  } else if (a[2].is_string() && (a[0].is_null() || a[0].is_string())) {
    if (a[0].is_string()) m.event = std::string(a[0].get_string());
    m.data = text_of(a[1]);
    m.id = std::string(a[2].get_string());
  } else {
    m.data = std::string(payload);
  }
  return m;
}

void append_sse_event(std::string& out, std::string_view cursor, std::string_view event, std::string_view data) {
  if (!cursor.empty()) {
    out.append("id: ");
    append_clean(out, cursor);
    out.push_back('\n');
  }
  if (!event.empty() && event != "message") {  // "message" is the default type: same event, shorter
    out.append("event: ");
    append_clean(out, event);
    out.push_back('\n');
  }
  std::size_t start = 0;
  for (;;) {
    auto eol = data.find_first_of("\r\n", start);
    out.append("data: ");
    out.append(data.substr(start, eol == std::string_view::npos ? std::string_view::npos : eol - start));
    out.push_back('\n');
    if (eol == std::string_view::npos) break;
    start = eol + (data[eol] == '\r' && eol + 1 < data.size() && data[eol + 1] == '\n' ? 2 : 1);
    if (start == data.size()) {  // a trailing line break is an empty last line
      out.append("data: \n");
      break;
    }
  }
  out.push_back('\n');
}

void append_sse_id(std::string& out, std::string_view cursor) {
  out.append("id: ");
  append_clean(out, cursor);
  out.append("\n\n");
}

bool stream_id_less(std::string_view a, std::string_view b) {
  std::uint64_t am, as, bm, bs;
  parse_stream_id(a, am, as);
  parse_stream_id(b, bm, bs);
  return am != bm ? am < bm : as < bs;
}

}  // namespace tempest::front
