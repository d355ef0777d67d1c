#include "front/job_encode.hpp"

#include "core/json_writer.hpp"

#include <algorithm>
#include <charconv>
#include <vector>

namespace tempest::front {
namespace http = boost::beast::http;

namespace {

struct field_ref {
  std::string_view name;  // as the client sent it; compared and written lower-cased
  std::string_view value;
};

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

bool name_less(const field_ref& a, const field_ref& b) {
  std::size_t n = std::min(a.name.size(), b.name.size());
  for (std::size_t i = 0; i < n; ++i)
    if (char x = lower(a.name[i]), y = lower(b.name[i]); x != y) return x < y;
  return a.name.size() < b.name.size();
}

bool same_name(const field_ref& a, const field_ref& b) { return !name_less(a, b) && !name_less(b, a); }

// Sorted by lower-cased name, keeping the order of equal names. Most requests have a handful
// of fields: an insertion sort, which needs no buffer (std::stable_sort allocates one).
void sort_fields(std::vector<field_ref>& fields) {
  if (fields.size() > 16) return std::stable_sort(fields.begin(), fields.end(), name_less);
  for (std::size_t i = 1; i < fields.size(); ++i)
    for (std::size_t j = i; j > 0 && name_less(fields[j], fields[j - 1]); --j) std::swap(fields[j], fields[j - 1]);
}

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

// {"name":"value",...}: names lower-cased and sorted, repeated fields joined with ", " ("; "
// for cookie).
void append_headers(std::string& out, const http_request& req) {
  thread_local std::vector<field_ref> fields;
  fields.clear();
  for (auto& f : req) fields.push_back({{f.name_string().data(), f.name_string().size()}, {f.value().data(), f.value().size()}});
  sort_fields(fields);
  out.push_back('{');
  thread_local std::string joined, name;
  for (auto it = fields.begin(); it != fields.end();) {
    auto next = it + 1;
    name.assign(it->name);
    for (auto& c : name) c = lower(c);
    std::string_view value = it->value;
    if (next != fields.end() && same_name(*next, *it)) {
      std::string_view sep = name == "cookie" ? "; " : ", ";
      joined.assign(it->value);
      for (; next != fields.end() && same_name(*next, *it); ++next) joined.append(sep).append(next->value);
      value = joined;
    }
    if (it != fields.begin()) out.push_back(',');
    append_json_string(out, name);
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
  if (const auto& file = req.body().file) {
    out.append(R"(,"body_file":{"path":)");
    append_text(out, file->path());
    out.append(R"(,"size":)");
    char size[24];
    auto [end, ec] = std::to_chars(size, size + sizeof size, file->size());
    out.append(size, end);
    out.append(R"(,"sha256":")").append(file->sha256()).append(R"("})");
  } else if (!req.body().text.empty() || req.has_content_length() || req.chunked()) {
    const std::string& body = req.body().text;
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
