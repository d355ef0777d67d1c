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
void append_text(std::string& out, std::string_view s) {
  if (is_valid_utf8(s)) return append_json_string(out, s);
  std::string utf8;
  for (unsigned char c : s) {
    if (c < 0x80) utf8.push_back(static_cast<char>(c));
    else { utf8.push_back(static_cast<char>(0xC0 | (c >> 6))); utf8.push_back(static_cast<char>(0x80 | (c & 0x3F))); }
  }
  append_json_string(out, utf8);
}

std::string lower(std::string_view in) {
  std::string out(in);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return out;
}

// {"name":"value",...}: names lower-cased and sorted, repeated fields joined with ", " ("; "
// for cookie).
void append_headers(std::string& out, const http_request& req) {
  thread_local std::vector<field_ref> fields;
  fields.clear();
  for (auto& f : req) fields.push_back({lower(f.name_string()), f.value()});
  std::stable_sort(fields.begin(), fields.end(), [](const field_ref& a, const field_ref& b) { return a.name < b.name; });
  out.push_back('{');
  thread_local std::string joined;
  for (auto it = fields.begin(); it != fields.end();) {
    auto next = it + 1;
    std::string_view value = it->value;
    if (next != fields.end() && next->name == it->name) {
      std::string_view sep = it->name == "cookie" ? "; " : ", ";
      joined.assign(it->value);
      for (; next != fields.end() && next->name == it->name; ++next) joined.append(sep).append(next->value);
      value = joined;
    }
    if (it != fields.begin()) out.push_back(',');
    append_json_string(out, it->name);
    out.push_back(':');
    append_text(out, value);
    it = next;
  }
  out.push_back('}');
}

}  // namespace

// The fixed parts of the job go out as literals (one append each; a json_writer call per key
// cost about 250 instructions, and encoding was a fifth of the front's work, callgrind). The
// exact bytes are pinned by tests/unit/front/front_test.cpp (job_encode.exact_bytes).
void encode_job(std::string& out, const http_request& req, const target_parts& target, std::string_view remote_addr,
                std::string_view respond_to, std::uint64_t job_id, const job_meta& meta) {
  out.append(R"(["url",[{"method":)");
  append_json_string(out, req.method_string());
  out.append(R"(,"url":)");
  append_text(out, req.target());
  out.append(R"(,"path":)");
  append_text(out, target.path);
  out.append(R"(,"query":)");
  append_text(out, target.query);
  out.append(R"(,"headers":)");
  append_headers(out, req);
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
