#include "front/job_encode.hpp"

#include "core/json_writer.hpp"

#include <algorithm>
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
void write_text(json_writer& w, std::string_view s) {
  if (is_valid_utf8(s)) return w.string(s);
  std::string utf8;
  for (unsigned char c : s) {
    if (c < 0x80) utf8.push_back(static_cast<char>(c));
    else { utf8.push_back(static_cast<char>(0xC0 | (c >> 6))); utf8.push_back(static_cast<char>(0x80 | (c & 0x3F))); }
  }
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

target_parts split_target(std::string_view target) {
  auto q = target.find('?');
  target_parts t{target.substr(0, q), q == std::string_view::npos ? std::string_view() : target.substr(q + 1)};
  // absolute-form (RFC 9112 3.2.2): scheme "://" authority path; the path is what follows
  // the authority. A scheme starts with a letter and has no '/', so "/a://b" stays a path.
  if (auto scheme = t.path.find("://"); scheme != std::string_view::npos && scheme > 0 &&
                                        t.path.substr(0, scheme).find('/') == std::string_view::npos) {
    auto slash = t.path.find('/', scheme + 3);
    t.path = slash == std::string_view::npos ? std::string_view("/") : t.path.substr(slash);
  }
  return t;
}

void encode_job(std::string& out, const http_request& req, std::string_view remote_addr,
                std::string_view respond_to, std::uint64_t job_id, const job_meta& meta) {
  json_writer w(out);
  w.begin_array();
  w.string("url");
  w.begin_array();
  w.begin_object();
  w.key("method");
  w.string(req.method_string());
  std::string_view target = req.target();
  w.key("url");
  write_text(w, target);
  auto parts = split_target(target);
  w.key("path");
  write_text(w, parts.path);
  w.key("query");
  write_text(w, parts.query);
  w.key("headers");
  write_headers(w, req);
  bool has_body = !req.body().empty() || req.has_content_length() || req.chunked();
  if (has_body) {
    const std::string& body = req.body();
    w.key("body");
    if (is_valid_utf8(body)) {
      w.string(body);
    } else {
      w.string(base64_encode(body));
      w.key("body_encoding");
      w.string("base64");
    }
  }
  w.key("remote_addr");
  w.string(remote_addr);
  w.key("http_version");
  w.string(req.version() == 10 ? "1.0" : "1.1");
  w.key("priority");
  w.string(meta.priority);
  if (meta.deadline_ms > 0) {
    w.key("deadline");
    w.number(meta.deadline_ms);
  }
  w.key("retry");
  w.boolean(meta.retry);
  w.end_object();
  w.end_array();
  if (respond_to.empty()) w.null();
  else w.string(respond_to);
  w.number(static_cast<std::int64_t>(job_id));
  w.end_array();
}

}  // namespace tempest::front
