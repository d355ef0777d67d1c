// tempest::request: the HTTP request carried by one "url" job, as a handler sees it.
//
//   w.on_request([](const tempest::request& req, tempest::response& res) {
//     req.method();  req.path();  req.header("content-type");  req.body();  req.body_file();
//     req.query_param("ms");   // percent-decoded, std::nullopt when absent
//   });
//
// Every accessor returns a view into the job being handled: the views are valid until the
// handler returns. Copy what must outlive the call (std::string(req.path())).
//
// The fields come from the job's args[0] object, written by the front (docs/protocol.md;
// decoded in src/worker/job_codec.cpp, encoded by src/front/job_encode.cpp: if you add a field
// there, add it here and in detail::request_access too).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tempest {

namespace detail {
struct request_access;
// Asks whether the front cancelled a job (see request::cancelled); implemented by the worker.
class cancel_probe {
 public:
  virtual bool is_cancelled(std::string_view respond_to, std::int64_t job_id) const = 0;

 protected:
  ~cancel_probe() = default;
};
}  // namespace detail

class request {
 public:
  using header_field = std::pair<std::string_view, std::string_view>;  // lower-case name, value

  // "GET", "POST", ... as the client sent it.
  std::string_view method() const noexcept { return method_; }
  // The request target as sent: "/p?q=1" (still percent-encoded).
  std::string_view url() const noexcept { return url_; }
  // The part of url() before '?': "/p" (still percent-encoded).
  std::string_view path() const noexcept { return path_; }
  // The part of url() after '?', without it: "q=1"; empty when there is none.
  std::string_view query() const noexcept { return query_; }
  // The value of a header, "" when absent. Names compare case-insensitively; the front sends
  // them lower-case and joins repeated headers with ", ".
  std::string_view header(std::string_view name) const noexcept;
  bool has_header(std::string_view name) const noexcept;
  // All headers, in the order of the job.
  const std::vector<header_field>& headers() const noexcept { return headers_; }
  // The body as raw bytes (a binary body travels as base64 in the job; this is decoded).
  // Empty when the request had none.
  std::string_view body() const noexcept { return body_; }
  // A large body the front wrote to a file instead of putting it in the job (docs/protocol.md
  // 11): body() is then empty and this names the file, on the front's host, readable by the
  // front's user. The file is the front's: read it (it is removed once the request is
  // answered, times out or its client leaves), never write, move or remove it.
  struct spooled_body {
    std::string_view path;    // absolute
    std::uint64_t size = 0;   // bytes
    std::string_view sha256;  // of the content, lower-case hex, computed by the front as it wrote
  };
  const std::optional<spooled_body>& body_file() const noexcept { return body_file_; }
  // The client address as the front saw it: "127.0.0.1:51234" or "[::1]:51234".
  std::string_view remote_addr() const noexcept { return remote_addr_; }
  // "1.1" or "1.0" (the front speaks HTTP/1.x only).
  std::string_view http_version() const noexcept { return http_version_; }
  // The job id given by the front (unique per front; for logs).
  std::int64_t job_id() const noexcept { return job_id_; }

  // The first query parameter of that name, percent-decoded ('+' is a space); std::nullopt
  // when absent. Allocates: not for loops over many names.
  std::optional<std::string> query_param(std::string_view name) const;

  // True when nobody waits for this answer any more: its deadline passed (the front answered
  // 504), or the front cancelled the job because the client went away. The second check asks
  // Redis (one round trip on a connection of its own): call it between steps of long work, not
  // in a tight loop. A long handler that sees it can stop early; its answer would be dropped.
  bool cancelled() const;

 private:
  friend struct detail::request_access;

  std::string_view method_;
  std::string_view url_;
  std::string_view path_;
  std::string_view query_;
  std::vector<header_field> headers_;  // kept between jobs for its capacity
  std::string_view body_;
  std::optional<spooled_body> body_file_;
  std::string_view remote_addr_;
  std::string_view http_version_;
  std::int64_t job_id_ = 0;
  std::string_view respond_to_;
  std::int64_t deadline_ms_ = 0;                    // 0: none
  const detail::cancel_probe* probe_ = nullptr;     // set by the worker lane
};

}  // namespace tempest
