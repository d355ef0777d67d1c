// Job decoding and answer encoding for the worker library: the pure part of the wire format
// (docs/protocol.md), with no I/O, so that tests/unit/worker/job_codec_test.cpp can drive it directly.
// Implemented in job_codec.cpp.
//
//   job j;  if (const char* err = job_access::decode(value, j)) ... skip, log err ...
//   request_access::decode(j, req, body_buf) -> nullptr or what is wrong
//   encode_url_answer(res, out)     appends [status, headers, body] to out (also a stream's head)
//   encode_error_answer(out)        appends {"error":"internal error"} (non-url actions)
//
// If you change the job layout, change src/front/job_encode.cpp too; if you change the answer
// layout, change src/front/answer.cpp (the front's answer decoder) too.
#pragma once
#include <boost/json/value.hpp>

#include <string>
#include <string_view>

#include "tempest/worker.hpp"

namespace tempest::detail {

struct job_access {
  // Fills j from a parsed job [action, args, respond_to, job_id]; j keeps pointers into v.
  // Returns nullptr, or a static description of what is wrong.
  static const char* decode(const boost::json::value& v, job& j);
};

struct request_access {
  // Fills req from the args of a "url" job; req keeps views into j's args. A base64 body is
  // decoded into body_buf (reused between jobs). Returns nullptr or what is wrong.
  static const char* decode(const job& j, request& req, std::string& body_buf);
  static void set_probe(request& req, const cancel_probe* p) { req.probe_ = p; }
};

struct response_access {
  // Where res.stream() sends its commands, for the job being handled (clear() keeps it).
  static void bind(response& res, stream_sink* sink, std::int64_t job_id, std::string_view respond_to) {
    res.body_.sink_ = sink;
    res.body_.job_id_ = job_id;
    res.body_.respond_to_ = respond_to;
  }
  static body_stream& body(response& res) { return res.body_; }
};

// Appends the answer JSON for an HTTP job. Returns how many headers were dropped as invalid.
int encode_url_answer(const response& res, std::string& out);
// Appends the answer sent for a non-url job whose handler threw before answering.
void encode_error_answer(std::string& out);
// True when the job is a "url" job whose request carries "deadline" (unix ms) before now_ms:
// nobody waits for it any more (the front answered 504), so it is dropped unstarted.
bool deadline_passed(const job& j, std::int64_t now_ms);
// Writes the job id as decimal text into buf (at least 21 bytes); returns the text.
std::string_view format_job_id(std::int64_t id, char* buf);
// Percent-decoding of a query component ('+' is a space); invalid escapes stay as they are.
std::string percent_decode(std::string_view s);

}  // namespace tempest::detail
