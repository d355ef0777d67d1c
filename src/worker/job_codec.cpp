// The worker library's side of the wire format: decoding jobs and HTTP requests, encoding
// answers (see job_codec.hpp for the API, docs/protocol.md for the format), plus the small
// methods of tempest::request and tempest::response. No I/O, no logging: callers log.
//
// Hot path: a job is parsed once by Boost.JSON into a per-job arena (lane.cpp); everything
// here keeps views into it and writes answers with json_writer into a reused buffer.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>

#include <charconv>
#include <chrono>
#include <cstdint>
#include <limits>

#include "core/http_text.hpp"
#include "core/json_writer.hpp"
#include "worker/job_codec.hpp"

namespace tempest {
namespace {

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

std::string_view view(const boost::json::string& s) { return {s.data(), s.size()}; }

bool is_header_value(std::string_view s) { return is_safe_header_value(s) && is_valid_utf8(s); }

bool is_valid_header(const std::pair<std::string, std::string>& h) {
  return is_token(h.first) && is_header_value(h.second);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// ---- tempest::request and tempest::response ----------------------------------------------

std::string_view request::header(std::string_view name) const noexcept {
  for (const auto& [n, v] : headers_)
    if (iequals(n, name)) return v;
  return {};
}

bool request::has_header(std::string_view name) const noexcept {
  for (const auto& h : headers_)
    if (iequals(h.first, name)) return true;
  return false;
}

std::optional<std::string> request::query_param(std::string_view name) const {
  std::string_view q = query_;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    auto eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (key == name || detail::percent_decode(key) == name) return detail::percent_decode(value);
  }
  return std::nullopt;
}

void response::set_header(std::string_view name, std::string_view value) {
  std::erase_if(headers, [&](const auto& h) { return iequals(h.first, name); });
  headers.emplace_back(name, value);
}

void response::clear() noexcept {
  status = 200;
  headers.clear();
  body.clear();
  body_.state_ = body_stream::state::none;
  body_.kept_ = false;
  body_.error_.clear();
}

body_stream& response::stream() {
  if (body_.state_ != body_stream::state::none) return body_;
  if (!body_.sink_ || body_.respond_to_.empty()) {
    body_.state_ = body_stream::state::failed;
    body_.error_ = "the job has no respond_to: nobody waits for this response";
    return body_;
  }
  std::string head;
  detail::encode_url_answer(*this, head);  // a body set so far: the first bytes (protocol.md 10.1)
  body_.state_ = body_stream::state::open;
  body_.send("stream", head);
  return body_;
}

bool body_stream::write(std::string_view bytes) {
  if (state_ != state::open) {
    if (state_ == state::ended && error_.empty()) error_ = "write after end()";
    return false;
  }
  return bytes.empty() || send("chunk", bytes);
}

stream_ref body_stream::keep() {
  if (state_ == state::open && !kept_) {
    if (!sink_->sync_stream(job_id_, respond_to_, error_)) state_ = state::failed;
    else kept_ = true;
  }
  if (!kept_ || state_ != state::open) return {};
  return {std::string(respond_to_), job_id_};
}

void body_stream::abort() {
  if (state_ != state::open) return;
  send("abort", {});
  state_ = state::failed;
  if (error_.empty()) error_ = "aborted";
}

bool body_stream::end() {
  if (state_ != state::open) return state_ == state::ended;
  if (!send("end", {})) return false;
  state_ = state::ended;
  return true;
}

bool body_stream::send(std::string_view command, std::string_view payload) {
  if (sink_->send_stream(command, job_id_, respond_to_, payload, error_)) return true;
  state_ = state::failed;
  return false;
}

namespace detail {

// ---- decoding -----------------------------------------------------------------------------

const char* job_access::decode(const boost::json::value& v, job& j) {
  const auto* a = v.if_array();
  if (!a || a->size() < 4) return "a job is a JSON array [action, args, respond_to, job_id]";
  const auto* action = (*a)[0].if_string();
  if (!action || action->empty()) return "the action (item 0) is not a non-empty string";
  const auto* args = (*a)[1].if_array();
  if (!args) return "the args (item 1) are not an array";
  const auto& respond_to = (*a)[2];
  if (!respond_to.is_string() && !respond_to.is_null()) return "respond_to (item 2) is neither a string nor null";
  const auto& id = (*a)[3];
  std::int64_t job_id;
  if (id.is_int64()) {
    job_id = id.get_int64();
  } else if (id.is_uint64() && id.get_uint64() <= std::uint64_t(std::numeric_limits<std::int64_t>::max())) {
    job_id = static_cast<std::int64_t>(id.get_uint64());
  } else if (id.is_double() && id.get_double() >= -9007199254740992.0 && id.get_double() <= 9007199254740992.0 &&
             id.get_double() == static_cast<double>(static_cast<std::int64_t>(id.get_double()))) {
    job_id = static_cast<std::int64_t>(id.get_double());  // 42.0 from encoders that only know doubles
  } else {
    return "the job id (item 3) is not an integer";
  }
  j.action_ = view(*action);
  j.args_ = args;
  j.respond_to_ = respond_to.is_string() ? view(respond_to.get_string()) : std::string_view();
  j.id_ = job_id;
  return nullptr;
}

bool deadline_passed(const job& j, std::int64_t now_ms) {
  if (j.action() != "url" || j.args().empty()) return false;
  const auto* o = j.args()[0].if_object();
  if (!o) return false;
  const auto* d = o->if_contains("deadline");
  if (!d) return false;
  if (d->is_int64()) return d->get_int64() < now_ms;
  if (d->is_uint64()) return false;  // beyond int64: far future
  if (d->is_double()) return d->get_double() < static_cast<double>(now_ms);
  return false;  // null or not a number: no deadline
}

// A job names a file for the worker to read: only what a front's spool creates (protocol.md
// 11.2), so that a forged job cannot make a worker read /etc/shadow.
static bool is_spool_path(std::string_view p) {
  constexpr std::string_view prefix = "/upload-";
  if (p.empty() || p.front() != '/' || p.size() < prefix.size() + 32) return false;
  auto name = p.substr(p.size() - prefix.size() - 32);
  if (name.substr(0, prefix.size()) != prefix) return false;
  for (char c : name.substr(prefix.size()))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  for (std::size_t at = 0; at < p.size();) {  // no "." or ".." segment, no NUL
    auto next = p.find('/', at + 1);
    auto seg = p.substr(at + 1, (next == std::string_view::npos ? p.size() : next) - at - 1);
    if (seg == "." || seg == ".." || seg.find('\0') != std::string_view::npos) return false;
    if (next == std::string_view::npos) break;
    at = next;
  }
  return true;
}

const char* request_access::decode(const job& j, request& req, std::string& body_buf) {
  req.method_ = req.url_ = req.path_ = req.query_ = req.body_ = {};
  req.remote_addr_ = req.http_version_ = {};
  req.body_file_.reset();
  req.headers_.clear();
  req.job_id_ = j.id();
  req.respond_to_ = j.respond_to();
  req.deadline_ms_ = 0;
  if (!j.args().empty())
    if (const auto* o = j.args()[0].if_object())
      if (const auto* d = o->if_contains("deadline"); d && d->is_int64()) req.deadline_ms_ = d->get_int64();
  const auto& args = j.args();
  const auto* o = args.empty() ? nullptr : args[0].if_object();
  if (!o) return "the args of a url job are not [ {request object} ]";

  bool has_path = false, has_query = false, base64_body = false;
  const boost::json::string* body = nullptr;
  // One pass over the object; unknown keys are ignored (newer fronts may add some).
  for (const auto& kv : *o) {
    std::string_view key = kv.key();
    const auto& v = kv.value();
    const auto* s = v.if_string();
    if (key == "headers") {
      const auto* h = v.if_object();
      if (!h) return "headers is not an object";
      for (const auto& hv : *h)
        if (const auto* hs = hv.value().if_string()) req.headers_.emplace_back(hv.key(), view(*hs));
      continue;
    }
    if (key == "body_file") {
      const auto* f = v.if_object();
      const auto* path = f ? f->if_contains("path") : nullptr;
      const auto* size = f ? f->if_contains("size") : nullptr;
      const auto* sha = f ? f->if_contains("sha256") : nullptr;
      if (!path || !path->is_string() || !size || !((size->is_int64() && size->get_int64() >= 0) || size->is_uint64()) || !sha || !sha->is_string())
        return "body_file is not {\"path\": string, \"size\": integer, \"sha256\": string}";
      if (!is_spool_path(view(path->get_string())))
        return "body_file.path is not a front's spool file (an absolute path ending in /upload-<32 hex digits>, "
               "without . or .. segments)";
      req.body_file_ = request::spooled_body{view(path->get_string()), size->to_number<std::uint64_t>(),
                                             view(sha->get_string())};
      continue;
    }
    if (key == "body_encoding") {
      if (!s || *s != "base64") return "unknown body_encoding (only \"base64\")";
      base64_body = true;
      continue;
    }
    if (!s) {
      if (v.is_null()) continue;
      if (key == "method" || key == "url" || key == "path" || key == "query" || key == "body" ||
          key == "remote_addr" || key == "http_version")
        return "a request field that should be a string is not";
      continue;
    }
    if (key == "method") req.method_ = view(*s);
    else if (key == "url") req.url_ = view(*s);
    else if (key == "path") { req.path_ = view(*s); has_path = true; }
    else if (key == "query") { req.query_ = view(*s); has_query = true; }
    else if (key == "body") body = s;
    else if (key == "remote_addr") req.remote_addr_ = view(*s);
    else if (key == "http_version") req.http_version_ = view(*s);
  }
  if (req.method_.empty()) return "the request has no method";
  if (req.url_.empty()) return "the request has no url";
  // The original front sent only method, url, headers and body: derive path and query.
  if (!has_path || !has_query) {
    auto q = req.url_.find('?');
    if (!has_path) req.path_ = req.url_.substr(0, q);
    if (!has_query && q != std::string_view::npos) req.query_ = req.url_.substr(q + 1);
  }
  if (body) {
    if (base64_body) {
      if (!base64_decode(view(*body), body_buf)) return "the body is not valid base64";
      req.body_ = body_buf;
    } else {
      req.body_ = view(*body);
    }
  }
  return nullptr;
}

// ---- encoding -----------------------------------------------------------------------------

int encode_url_answer(const response& res, std::string& out) {
  json_writer w(out);
  w.begin_array();
  w.number(res.status >= 200 && res.status <= 599 ? res.status : 500);  // what the front accepts
  w.begin_object();
  int dropped = 0;
  const auto& hs = res.headers;
  for (std::size_t i = 0; i < hs.size(); ++i) {
    if (!is_valid_header(hs[i])) { ++dropped; continue; }
    // A name seen before (case-insensitively) was written with all its values then.
    bool seen = false;
    for (std::size_t k = 0; k < i && !seen; ++k) seen = iequals(hs[k].first, hs[i].first) && is_valid_header(hs[k]);
    if (seen) continue;
    std::size_t repeats = 0;
    for (std::size_t k = i + 1; k < hs.size(); ++k)
      if (iequals(hs[k].first, hs[i].first) && is_valid_header(hs[k])) ++repeats;
    w.key(hs[i].first);
    if (repeats == 0) {
      w.string(hs[i].second);
      continue;
    }
    w.begin_array();
    w.string(hs[i].second);
    for (std::size_t k = i + 1; k < hs.size(); ++k)
      if (iequals(hs[k].first, hs[i].first) && is_valid_header(hs[k])) w.string(hs[k].second);
    w.end_array();
  }
  w.end_object();
  if (is_valid_utf8(res.body)) {
    w.string(res.body);
  } else {
    w.begin_object();
    w.key("base64");
    w.string(base64_encode(res.body));
    w.end_object();
  }
  w.end_array();
  return dropped;
}

void encode_error_answer(std::string& out) {
  json_writer w(out);
  w.begin_object();
  w.key("error");
  w.string("internal error");
  w.end_object();
}

std::string_view format_job_id(std::int64_t id, char* buf) {
  auto [end, ec] = std::to_chars(buf, buf + 21, id);
  return {buf, static_cast<std::size_t>(end - buf)};
}

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace detail
}  // namespace tempest

namespace tempest {

bool request::cancelled() const {
  if (deadline_ms_ > 0) {
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch());
    if (now.count() > deadline_ms_) return true;
  }
  return probe_ && !respond_to_.empty() && probe_->is_cancelled(respond_to_, job_id_);
}

}  // namespace tempest
