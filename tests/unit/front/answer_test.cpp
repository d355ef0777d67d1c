// Unit tests for src/front/answer.* and the answer endpoint's pure helpers: what a worker's
// answer may hold (control characters, the 2012 forms), the reason phrase of unknown statuses,
// the password check and the HTTP detector (issue 7: items 2, 7, 8, 16).
#include "front/answer.hpp"
#include "front/answer_endpoint.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace tempest;
using namespace tempest::front;

namespace {
http_answer parsed(const std::string& text) {
  http_answer a;
  std::string why;
  EXPECT_TRUE(parse_answer(text, a, why)) << text << ": " << why;
  return a;
}

std::string refused(const std::string& text) {
  http_answer a;
  std::string why;
  EXPECT_FALSE(parse_answer(text, a, why)) << text;
  EXPECT_FALSE(why.empty()) << text;
  return why;
}

std::vector<resp_value> words(std::initializer_list<const char*> ws) {
  std::vector<resp_value> v;
  for (auto w : ws) {
    resp_value x;
    x.type = resp_value::kind::string;
    x.str = w;
    v.push_back(x);
  }
  return v;
}
}  // namespace

TEST(answer, header_values_with_any_control_character_but_tab_are_refused) {
  for (int c = 0; c < 0x20; ++c) {
    if (c == '\t') continue;
    char esc[16];
    std::snprintf(esc, sizeof esc, "\\u%04x", c);
    refused(std::string(R"([200, {"X": "a)") + esc + R"(b"}, ""])");
    refused(std::string(R"([200, {"X": ["ok", "a)") + esc + R"(b"]}, ""])");
  }
  refused(R"([200, {"X": "a\u007fb"}, ""])");
  EXPECT_EQ(parsed(R"([200, {"X": "a\tb c\u00e9"}, ""])").headers.at(0).second, "a\tb c\xc3\xa9");
}

TEST(answer, the_2012_forms_are_accepted) {
  // The 2012 Python client: 'Content-length': len(body); numbers are sent as decimal text.
  auto a = parsed(R"([200, {"X-Count": 12, "X-Big": 18446744073709551615, "X-Neg": -3, "X-F": 1.5, "X-L": [1, "b"]}, "x"])");
  ASSERT_EQ(a.headers.size(), 6u);
  EXPECT_EQ(a.headers[0].second, "12");
  EXPECT_EQ(a.headers[1].second, "18446744073709551615");
  EXPECT_EQ(a.headers[2].second, "-3");
  EXPECT_EQ(a.headers[3].second, "1.5");
  EXPECT_EQ(a.headers[4].second, "1");
  EXPECT_EQ(a.headers[5].second, "b");
  EXPECT_TRUE(parsed(R"([200, {"Content-length": 1}, "x"])").headers.empty());  // framing: dropped
  EXPECT_EQ(parsed(R"(["404", {}, "no"])").status, 404);                       // status as a string
  auto two = parsed(R"([201, {"X": "y"}])");                                      // no body
  EXPECT_EQ(two.status, 201);
  EXPECT_EQ(two.body, "");
  EXPECT_EQ(two.headers.size(), 1u);
}

TEST(answer, what_the_2012_front_crashed_on_stays_refused) {
  for (const char* bad : {"[]", "[200]", "[null, {}, \"\"]", R"([200, {}, 5])", R"([200, {}, true])",
                          R"(["2000", {}, ""])", R"(["20", {}, ""])", R"(["abc", {}, ""])", R"(["099", {}, ""])",
                          R"([" 200", {}, ""])", R"([200, {"X": true}, ""])", R"([200, {"X": null}, ""])",
                          R"([200, {"X": {"a": 1}}, ""])", R"([200, {}, "x", 1])", R"([200, null])"})
    refused(bad);
}

TEST(answer, unknown_statuses_get_a_generic_reason) {
  EXPECT_EQ(fallback_reason(299), "Successful");
  EXPECT_EQ(fallback_reason(498), "Client Error");
  EXPECT_EQ(fallback_reason(598), "Server Error");
  EXPECT_EQ(fallback_reason(399), "Redirection");
  EXPECT_EQ(fallback_reason(200), "");  // Beast's own "OK"
  EXPECT_EQ(fallback_reason(404), "");
}

TEST(answer_endpoint, password_check) {
  EXPECT_TRUE(password_matches("s3cret", "s3cret"));
  EXPECT_FALSE(password_matches("s3cres", "s3cret"));
  EXPECT_FALSE(password_matches("s3cre", "s3cret"));
  EXPECT_FALSE(password_matches("s3crets3cret", "s3cret"));  // the modulo wrap is not a match
  EXPECT_FALSE(password_matches("", "s3cret"));
  EXPECT_FALSE(password_matches("x", ""));
  EXPECT_TRUE(password_matches("", ""));
}

TEST(answer_endpoint, http_is_recognised) {
  EXPECT_TRUE(looks_like_http(words({"POST", "/", "HTTP/1.1"})));
  EXPECT_TRUE(looks_like_http(words({"get", "/x"})));
  EXPECT_TRUE(looks_like_http(words({"BREW", "/pot", "HTTP/1.0"})));
  EXPECT_TRUE(looks_like_http(words({"Host:", "127.0.0.1:6379"})));
  EXPECT_TRUE(looks_like_http(words({"Content-Type:", "text/plain"})));
  EXPECT_FALSE(looks_like_http(words({"url", "12", "[200,{},\"HTTP/1.1\"]"})));
  EXPECT_FALSE(looks_like_http(words({"PING"})));
  EXPECT_FALSE(looks_like_http(words({"AUTH", "pw"})));
  EXPECT_FALSE(looks_like_http({}));
}
