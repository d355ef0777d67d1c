// Unit tests for src/front/answer.* and the answer endpoint's pure helpers: what a worker's
// answer may hold (control characters, the 2012 forms), the reason phrase of unknown statuses,
// the password check and the HTTP detector (issue 7: items 2, 7, 8, 16).
#include "front/answer.hpp"
#include "front/answer_endpoint.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

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

std::vector<std::string_view> words(std::initializer_list<const char*> ws) { return {ws.begin(), ws.end()}; }
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
  EXPECT_EQ(reason_phrase(299), "Successful");
  EXPECT_EQ(reason_phrase(498), "Client Error");
  EXPECT_EQ(reason_phrase(598), "Server Error");
  EXPECT_EQ(reason_phrase(399), "Redirection");
  EXPECT_EQ(reason_phrase(200), "OK");  // Beast's own names
  EXPECT_EQ(reason_phrase(404), "Not Found");
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

// parse_answer reads the usual answers in one pass and hands everything else to the document
// reader: for any text, both must give the same verdict, the same reason and the same answer.
TEST(answer, the_one_pass_reader_agrees_with_the_document_reader) {
  std::vector<std::string> texts = {
      R"([200, {"Content-Type": "text/plain", "X-Worker": "c++"}, "Hello world!"])",
      R"([200,{},""])", R"( [ 404 , { } , null ] )", R"([201, {"X": "y"}])", R"(["404", {}, "no"])",
      R"([200, {"X-Count": 12, "X-Big": 18446744073709551615, "X-Neg": -3, "X-F": 1.5, "X-E": 1e3, "X-L": [1, "b"]}, "x"])",
      R"([200, {"Set-Cookie": ["a=1", "b=2"], "Set-Cookie2": [], "X": "v"}, "x"])",
      R"([200, {"A": "1", "B": "2", "A": "3"}, ""])",            // a name twice: the last wins
      R"([200, {"A": true, "A": "ok"}, ""])",                    // ... even over an invalid one
      R"([200, {"A": [], "A": "x"}, ""])", R"([200, {"A": "x", "A": []}, ""])",
      R"([200, {"Content-Length": 5, "Transfer-Encoding": "chunked", "Connection": ["close"]}, "x"])",
      R"([200, {"Content-Length": true}, "x"])",
      R"([200, {}, {"base64": "aGk="}])", R"([200, {}, {"base64": "***"}])", R"([200, {}, {"other": 1, "base64": "aGk="}])",
      R"([200, {"X\u0041": "caf\u00e9 \"q\" \\"}, "line\nnext \u20ac"])",  // escapes: strings in parts
      R"([200, {"Bad Name": "x"}, ""])", R"([200, {"": "x"}, ""])", R"([200, {"X": "a\rb"}, ""])",
      R"([200, {"X": 1e999}, ""])", R"([200.0, {}, ""])", R"([2e2, {}, ""])", R"([-200, {}, ""])",
      R"([18446744073709551615, {}, ""])", R"([200, {}, "x"] extra)", R"([200, {}, "x"]   )",
      R"([200, {}, "x")", R"([200, {"X": "\ud800"}, ""])", "[200, {}, \"\xff\"]", R"(/*c*/[200, {}, ""])",
      R"({"status": 200})", R"("x")", "12", "", "[]", "[200]", "[null, {}, \"\"]", R"([200, {}, 5])",
      R"([200, {}, true])", R"(["2000", {}, ""])", R"(["20", {}, ""])", R"(["abc", {}, ""])", R"(["+20", {}, ""])",
      R"([200, {"X": null}, ""])", R"([200, {"X": {"a": 1}}, ""])", R"([200, {"X": [[1]]}, ""])",
      R"([200, {}, "x", 1])", R"([200, null])", R"([200, [], ""])", R"([[200], {}, ""])", R"([200, {}, [""]])",
  };
  std::string many = "[200, {";
  for (int i = 0; i < 40; ++i) many += (i ? ",\"H" : "\"H") + std::to_string(i) + "\": \"v\"";
  texts.push_back(many + "}, \"\"]");  // more names than the one-pass reader takes
  for (auto& text : texts) {
    http_answer a, b;
    a.headers.emplace_back("Stale", "from the previous answer");  // slots are reused
    a.body = "stale";
    b = a;
    std::string why_a, why_b;
    bool ok_a = parse_answer(text, a, why_a), ok_b = parse_answer_document(text, b, why_b);
    ASSERT_EQ(ok_a, ok_b) << text << ": " << why_a << why_b;
    EXPECT_EQ(why_a, why_b) << text;
    if (!ok_a) continue;
    EXPECT_EQ(a.status, b.status) << text;
    EXPECT_EQ(a.headers, b.headers) << text;
    EXPECT_EQ(a.body, b.body) << text;
  }
}

TEST(answer, a_stream_head_declares_its_length_with_one_decimal_number) {
  auto length = [](std::string_view head, std::uint64_t& n) {
    std::string why;
    n = 7;  // untouched when none is declared
    return declared_length(head, n, why);
  };
  std::uint64_t n = 0;
  EXPECT_TRUE(length(R"([200,{}])", n));
  EXPECT_EQ(n, 7u);
  EXPECT_TRUE(length(R"([200,{"Content-Length":"1048576"}])", n));
  EXPECT_EQ(n, 1048576u);
  EXPECT_TRUE(length(R"([200,{"content-length":12}])", n));
  EXPECT_EQ(n, 12u);
  EXPECT_TRUE(length(R"([200,{"CONTENT-LENGTH":"0"}])", n));
  EXPECT_EQ(n, 0u);
  for (std::string_view bad : {R"([200,{"Content-Length":"-1"}])", R"([200,{"Content-Length":"+1"}])",
                               R"([200,{"Content-Length":"1,1"}])", R"([200,{"Content-Length":""}])",
                               R"([200,{"Content-Length":-3}])", R"([200,{"Content-Length":1.5}])",
                               R"([200,{"Content-Length":["1"]}])", R"([200,{"Content-Length":"99999999999999999999999"}])",
                               R"([200,{"Content-Length":"1","content-length":"1"}])"})
    EXPECT_FALSE(length(bad, n)) << bad;
}
