// Tempest's error codes, with one mapping to an HTTP status and one to a RESP "-ERR" line, so
// every path answers the same way. If you add a code, add its status and text here too.
#pragma once
#include <string_view>

namespace tempest {

enum class errc {
  none,
  bad_request,        // malformed HTTP or a framing that RFC 9112 says to reject
  request_timeout,    // the request's headers or body did not arrive in time
  body_too_large,     // over --max-body-size
  header_too_large,   // over --max-header-size
  not_implemented,    // a transfer coding we do not know
  bad_answer,         // the worker's answer is not valid (JSON, status, headers)
  redis_unavailable,  // the job could not be pushed: Redis is down or refused it
  answer_timeout,     // no answer within --timeout
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
  }
  return 500;
}

// The body of the error response; also the text of the matching RESP error.
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
  }
  return "internal error";
}

}  // namespace tempest
