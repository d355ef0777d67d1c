// Unit tests for src/core/errors.hpp, the one table of the refusals the front writes itself:
// every code has its own status and text, and the RESP error lines keep the prefixes the
// worker library matches (issue 8, item 5).
#include "core/errors.hpp"

#include <gtest/gtest.h>

#include <string>

namespace tempest {
namespace {

TEST(Errors, EveryCodeHasAStatusAndAText) {
  for (auto e : {errc::bad_request, errc::request_timeout, errc::body_too_large, errc::header_too_large,
                 errc::not_implemented, errc::bad_answer, errc::redis_unavailable, errc::answer_timeout,
                 errc::shutting_down}) {
    EXPECT_GE(http_status(e), 400);
    EXPECT_LT(http_status(e), 600);
    EXPECT_NE(error_text(e), "internal error");
  }
  EXPECT_EQ(http_status(errc::answer_timeout), 504);
  EXPECT_EQ(error_text(errc::redis_unavailable), "service unavailable: job queue unreachable");
}

TEST(Errors, AnswerEndpointLinesKeepTheirPrefixes) {
  // What a front writes for an answer to an unknown job, and what the worker matches.
  std::string line = std::string(answer_error::unknown_job) + "42 (answered, timed out, or not from this front)";
  EXPECT_TRUE(line.starts_with("ERR unknown job"));
  EXPECT_EQ(answer_error::invalid_answer, "ERR invalid answer: ");
  EXPECT_EQ(answer_error::noauth, "NOAUTH Authentication required.");
  EXPECT_TRUE(answer_error::wrong_password.starts_with("WRONGPASS "));
}

TEST(Errors, SseRefusals) {
  EXPECT_EQ(sse_error::redis_unreachable.status, 503);
  EXPECT_EQ(sse_error::not_get.extra, "Allow: GET, HEAD\r\n");
  EXPECT_TRUE(sse_error::not_confirmed.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
}

}  // namespace
}  // namespace tempest
