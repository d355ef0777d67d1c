#include "front/job_encode.hpp"

#include "core/json_writer.hpp"

#include <algorithm>
#include <charconv>
#include <vector>

namespace tempest::front {
namespace http = boost::beast::http;

namespace {

struct field_ref {
  std::string name;  // lower-case
  std::string_view value;
};

// Header values and targets may carry obs-text bytes (RFC 9110 5.5) that are not UTF-8; JSON
// strings must be. Such text is read as ISO-8859-1, as HTTP historically defined it.
void latin1_to_utf8(std::string_view s, std::string& utf8) {
  for (unsigned char c : s) {
    if (c < 0x80) utf8.push_back(static_cast<char>(c));
    else { utf8.push_back(static_cast<char>(0xC0 | (c >> 6))); utf8.push_back(static_cast<char>(0x80 | (c & 0x3F))); }
  }
}

void write_text(json_writer& w, std::string_view s) {
  if (is_valid_utf8(s)) return w.string(s);
  std::string utf8;
  latin1_to_utf8(s, utf8);
  w.string(utf8);
}

void lower_into(std::string& out, std::string_view in) {
  out.assign(in);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
}

void write_headers(json_writer& w, const http_request& req) {
  thread_local std::vector<field_ref> fields;
  fields.resize(0);
  std::size_t n = 0;
  for (auto& f : req) {
    if (fields.size() <= n) fields.emplace_back();
    lower_into(fields[n].name, f.name_string());
    fields[n].value = f.value();
    ++n;
  }
  auto end = fields.begin() + static_cast<std::ptrdiff_t>(n);
  std::stable_sort(fields.begin(), end, [](const field_ref& a, const field_ref& b) { return a.name < b.name; });
  w.begin_object();
  thread_local std::string joined;
  for (auto it = fields.begin(); it != end;) {
    auto next = it + 1;
    if (next == end || next->name != it->name) {
      w.key(it->name);
      write_text(w, it->value);
    } else {
      std::string_view sep = it->name == "cookie" ? "; " : ", ";
      joined.assign(it->value);
      for (; next != end && next->name == it->name; ++next) {
        joined.append(sep);
        joined.append(next->value);
      }
      w.key(it->name);
      write_text(w, joined);
    }
    it = next;
  }
  w.end_object();
}

}  // namespace

// The fixed parts of the job go out as literals (one append each): a json_writer call per key
// cost about 250 instructions, a fifth of the front's work per request (callgrind). The
// exact bytes are pinned by tests/unit/front/front_test.cpp (job_encode.exact_bytes).
void encode_job(std::string& out, const http_request& req, const target_parts& target, std::string_view remote_addr,
                std::string_view respond_to, std::uint64_t job_id, const job_meta& meta) {
  auto text = [&out](std::string_view s) {
    if (is_valid_utf8(s)) return append_json_string(out, s);
    std::string utf8;
    latin1_to_utf8(s, utf8);
    append_json_string(out, utf8);
  };
  out.append(R"(["url",[{"method":)");
  append_json_string(out, req.method_string());
  out.append(R"(,"url":)");
  text(req.target());
  out.append(R"(,"path":)");
  text(target.path);
  out.append(R"(,"query":)");
  text(target.query);
  out.append(R"(,"headers":)");
  {
    json_writer w(out);
    write_headers(w, req);
  }
  if (!req.body().empty() || req.has_content_length() || req.chunked()) {
    const std::string& body = req.body();
    out.append(R"(,"body":)");
    if (is_valid_utf8(body)) {
      append_json_string(out, body);
    } else {
      append_json_string(out, base64_encode(body));
      out.append(R"(,"body_encoding":"base64")");
    }
  }
  out.append(R"(,"remote_addr":)");
  append_json_string(out, remote_addr);
  out.append(req.version() == 10 ? R"(,"http_version":"1.0","priority":)" : R"(,"http_version":"1.1","priority":)");
  append_json_string(out, meta.priority);
  char digits[24];
  if (meta.deadline_ms > 0) {
    out.append(R"(,"deadline":)");
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, meta.deadline_ms);
    out.append(digits, end);
  }
  out.append(meta.retry ? R"(,"retry":true}],)" : R"(,"retry":false}],)");
  if (respond_to.empty()) out.append("null");
  else append_json_string(out, respond_to);
  out.push_back(',');
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, job_id);
  out.append(digits, end);
  out.push_back(']');
}

}  // namespace tempest::front
