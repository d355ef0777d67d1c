// The errors the front answers itself, in one place: the codes of an HTTP request that gets no
// worker's answer (errc, with its status and body text: http_session writes "<status>\r\n...
// <error_text>\n"), and the RESP error lines of the answer endpoint (answer_error), whose fixed
// prefixes the worker library matches too. If you add a code, add its status and text here.
#pragma once
#include <string_view>

namespace tempest {

enum class errc {
  none,
  bad_request,        // malformed HTTP or a framing that RFC 9112 says to reject
  request_timeout,    // the request's headers or body did not arrive in time
  body_too_large,     // over --max-body-size (or --max-upload-size for a spooled body)
  header_too_large,   // over --max-header-size
  not_implemented,    // a transfer coding we do not know
  bad_answer,         // the worker's answer is not valid (JSON, status, headers)
  redis_unavailable,  // the job could not be pushed: Redis is down or refused it
  answer_timeout,     // no answer within --timeout
  spool_failed,       // a body to spool could not be written (unusable --spool-dir, disk full)
  shutting_down,      // the front is stopping
};

constexpr int http_status(errc e) {
  switch (e) {
    case errc::none: return 200;
    case errc::bad_request: return 400;
    case errc::request_timeout: return 408;
    case errc::body_too_large: return 413;
    case errc::header_too_large: return 431;
    case errc::not_implemented: return 501;
    case errc::bad_answer: return 502;
    case errc::redis_unavailable: return 503;
    case errc::shutting_down: return 503;
    case errc::answer_timeout: return 504;
    case errc::spool_failed: return 507;
  }
  return 500;
}

// The body of the error response (followed by "\n").
constexpr std::string_view error_text(errc e) {
  switch (e) {
    case errc::none: return "ok";
    case errc::bad_request: return "bad request";
    case errc::request_timeout: return "request timeout";
    case errc::body_too_large: return "request body too large";
    case errc::header_too_large: return "request header fields too large";
    case errc::not_implemented: return "transfer coding not implemented";
    case errc::bad_answer: return "bad gateway: invalid answer from worker";
    case errc::redis_unavailable: return "service unavailable: job queue unreachable";
    case errc::shutting_down: return "service unavailable: shutting down";
    case errc::answer_timeout: return "gateway timeout: no answer from a worker in time";
    case errc::spool_failed: return "insufficient storage: the request body could not be stored";
  }
  return "internal error";
}

// The refusals of an event-stream request (sse_session), written as "HTTP/1.1 <status> <reason>",
// a text/plain body of `body` + "\n", and the `extra` header lines.
struct http_refusal {
  int status;
  std::string_view reason;
  std::string_view body;
  std::string_view extra = {};
};
namespace sse_error {
inline constexpr http_refusal not_get{405, "Method Not Allowed", "event streams take GET", "Allow: GET, HEAD\r\n"};
inline constexpr http_refusal bad_channels{
    400, "Bad Request", "bad channel list: 1 to 16 names of A-Z a-z 0-9 _ . : @ -, joined by commas"};
inline constexpr http_refusal forbidden{403, "Forbidden", "channel "};  // + name + " is not allowed"
inline constexpr http_refusal redis_unreachable{503, "Service Unavailable", "service unavailable: Redis unreachable",
                                                "Retry-After: 1\r\n"};
// Redis did not confirm the subscriptions in time (the whole response: no body).
inline constexpr std::string_view not_confirmed =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
}  // namespace sse_error

// The answer endpoint's error replies (docs/protocol.md 3.5), without the leading '-' and the
// CRLF that reply_error adds. Those ending in a space or quote are prefixes: the endpoint
// appends the detail (a command, an id, a reason).
namespace answer_error {
inline constexpr std::string_view noauth = "NOAUTH Authentication required.";
inline constexpr std::string_view unknown_command = "ERR unknown command '";  // + name + "' (...)"
inline constexpr std::string_view protocol = "ERR Protocol error: ";
inline constexpr std::string_view auth_arity = "ERR wrong number of arguments for 'auth' command";
inline constexpr std::string_view auth_without_password =
    "ERR AUTH <password> called without any password configured for the default user.";
inline constexpr std::string_view wrong_password = "WRONGPASS invalid username-password pair or user is disabled.";
inline constexpr std::string_view answer_arity = "ERR wrong number of arguments: url <job_id> <json>";
inline constexpr std::string_view unknown_job = "ERR unknown job ";  // + id + " (answered, ...)"
inline constexpr std::string_view invalid_answer = "ERR invalid answer: ";
inline constexpr std::string_view no_stream = "ERR no open stream ";  // + id + " (never started, ...)"
inline constexpr std::string_view no_stream_why = " (never started, ended, timed out, or the client left)";
inline constexpr std::string_view stream_too_long = "ERR stream longer than its Content-Length (";  // + N + " bytes)"
inline constexpr std::string_view stream_too_short = "ERR stream ended after ";  // + M + " of its N bytes (Content-Length)"
inline constexpr std::string_view bad_id_list = "ERR bad id list: ";
inline constexpr std::string_view wrong_arity = "ERR wrong number of arguments: ";  // + usage
inline constexpr std::string_view message_too_large = "ERR message ";  // + "larger than --max-answer-size ..."
}  // namespace answer_error

}  // namespace tempest
