// Unit tests of the worker library's pure logic (src/worker/): job decoding, HTTP request
// decoding (base64 bodies included), answer encoding, and option parsing. The I/O loop is
// covered by the integration tests (real redis-server, real front).
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include "core/json_writer.hpp"
#include "worker/job_codec.hpp"

namespace tempest {
namespace {

using detail::job_access;
using detail::request_access;

// A parsed job that keeps its JSON alive for the views of job and request.
struct parsed_job {
  explicit parsed_job(std::string_view text) : value(boost::json::parse(text)) {}
  const char* decode() { return job_access::decode(value, j); }
  boost::json::value value;
  job j;
};

// ---- jobs -----------------------------------------------------------------------------------

TEST(WorkerJobDecode, ReadsTheFourItems) {
  parsed_job p(R"(["url", [{"method":"GET","url":"/"}], "127.0.0.1:7000", 42])");
  ASSERT_EQ(p.decode(), nullptr);
  EXPECT_EQ(p.j.action(), "url");
  EXPECT_EQ(p.j.respond_to(), "127.0.0.1:7000");
  EXPECT_EQ(p.j.id(), 42);
  EXPECT_EQ(p.j.args().size(), 1u);
}

TEST(WorkerJobDecode, NullRespondToMeansNoAnswer) {
  parsed_job p(R"(["ping", [], null, 7])");
  ASSERT_EQ(p.decode(), nullptr);
  EXPECT_TRUE(p.j.respond_to().empty());
}

TEST(WorkerJobDecode, AcceptsIdsUpTo53BitsInAnyNumberForm) {
  parsed_job big(R"(["url", [], null, 9007199254740991])");
  ASSERT_EQ(big.decode(), nullptr);
  EXPECT_EQ(big.j.id(), 9007199254740991);
  parsed_job dbl(R"(["url", [], null, 12.0])");
  ASSERT_EQ(dbl.decode(), nullptr);
  EXPECT_EQ(dbl.j.id(), 12);
  parsed_job extra(R"(["url", [], null, 5, "future item"])");
  EXPECT_EQ(extra.decode(), nullptr);
}

TEST(WorkerJobDecode, RejectsMalformedJobs) {
  for (const char* text : {
           R"({"action":"url"})",               // not an array
           R"(["url", [], null])",              // three items
           R"([1, [], null, 1])",               // action not a string
           R"(["", [], null, 1])",              // empty action
           R"(["url", {}, null, 1])",           // args not an array
           R"(["url", [], 7000, 1])",           // respond_to a number
           R"(["url", [], null, "1"])",         // id a string
           R"(["url", [], null, 1.5])",         // id not an integer
           R"(["url", [], null, 18446744073709551615])",  // id past int64
       }) {
    parsed_job p(text);
    EXPECT_NE(p.decode(), nullptr) << text;
  }
}

// ---- requests -------------------------------------------------------------------------------

struct parsed_request : parsed_job {
  explicit parsed_request(std::string_view text) : parsed_job(text) {
    EXPECT_EQ(decode(), nullptr);
    error = request_access::decode(j, req, body_buf);
  }
  request req;
  std::string body_buf;
  const char* error;
};

TEST(WorkerRequestDecode, ReadsEveryField) {
  parsed_request p(R"(["url", [{"method":"POST","url":"/p?q=1","path":"/p","query":"q=1",
      "headers":{"host":"127.0.0.1:8080","content-type":"text/plain","x-multi":"a, b"},
      "body":"h\u00e9llo","remote_addr":"[::1]:51234","http_version":"1.1"}], "h:1", 9])");
  ASSERT_EQ(p.error, nullptr);
  const request& r = p.req;
  EXPECT_EQ(r.method(), "POST");
  EXPECT_EQ(r.url(), "/p?q=1");
  EXPECT_EQ(r.path(), "/p");
  EXPECT_EQ(r.query(), "q=1");
  EXPECT_EQ(r.header("content-type"), "text/plain");
  EXPECT_EQ(r.header("Content-Type"), "text/plain");
  EXPECT_EQ(r.header("x-multi"), "a, b");
  EXPECT_EQ(r.header("absent"), "");
  EXPECT_TRUE(r.has_header("host"));
  EXPECT_FALSE(r.has_header("absent"));
  EXPECT_EQ(r.headers().size(), 3u);
  EXPECT_EQ(r.body(), "h\xc3\xa9llo");
  EXPECT_EQ(r.remote_addr(), "[::1]:51234");
  EXPECT_EQ(r.http_version(), "1.1");
  EXPECT_EQ(r.job_id(), 9);
}

TEST(WorkerRequestDecode, DecodesABase64BodyToTheRawBytes) {
  std::string bytes("\xde\xad\xbe\xef\x00\xff", 6);
  std::string text = R"(["url", [{"method":"PUT","url":"/b","body":")" + base64_encode(bytes) +
                     R"(","body_encoding":"base64"}], null, 1])";
  parsed_request p(text);
  ASSERT_EQ(p.error, nullptr);
  EXPECT_EQ(p.req.body(), bytes);
}

TEST(WorkerRequestDecode, NoBodyIsEmpty) {
  parsed_request p(R"(["url", [{"method":"GET","url":"/"}], null, 1])");
  ASSERT_EQ(p.error, nullptr);
  EXPECT_TRUE(p.req.body().empty());
  EXPECT_TRUE(p.req.headers().empty());
}

TEST(WorkerRequestDecode, ASpooledBodyIsNamedNotRead) {
  parsed_request p(R"(["url", [{"method":"POST","url":"/u","body_file":{"path":"/tmp/s/upload-0123456789abcdef0123456789abcdef",
      "size":3000000000,"sha256":"e3b0"}}], "h:1", 1])");
  ASSERT_EQ(p.error, nullptr);
  ASSERT_TRUE(p.req.body_file());
  EXPECT_EQ(p.req.body_file()->path, "/tmp/s/upload-0123456789abcdef0123456789abcdef");
  EXPECT_EQ(p.req.body_file()->size, 3000000000u);
  EXPECT_EQ(p.req.body_file()->sha256, "e3b0");
  EXPECT_TRUE(p.req.body().empty());
  // The next job without one has none.
  parsed_job next(R"(["url", [{"method":"GET","url":"/"}], null, 2])");
  ASSERT_EQ(next.decode(), nullptr);
  ASSERT_EQ(request_access::decode(next.j, p.req, p.body_buf), nullptr);
  EXPECT_FALSE(p.req.body_file());
}

TEST(WorkerRequestDecode, DerivesPathAndQueryFromTheUrlForOldFronts) {
  parsed_request p(R"(["url", [{"method":"GET","url":"/a/b?x=1&y=2","headers":{}}], null, 1])");
  ASSERT_EQ(p.error, nullptr);
  EXPECT_EQ(p.req.path(), "/a/b");
  EXPECT_EQ(p.req.query(), "x=1&y=2");
  parsed_request no_query(R"(["url", [{"method":"GET","url":"/a"}], null, 1])");
  EXPECT_EQ(no_query.req.path(), "/a");
  EXPECT_EQ(no_query.req.query(), "");
}

TEST(WorkerRequestDecode, RejectsBadRequests) {
  for (const char* text : {
           R"(["url", [], null, 1])",                                       // no request object
           R"(["url", ["GET /"], null, 1])",                                // not an object
           R"(["url", [{"url":"/"}], null, 1])",                            // no method
           R"(["url", [{"method":"GET"}], null, 1])",                       // no url
           R"(["url", [{"method":"GET","url":"/","headers":[]}], null, 1])",  // headers not an object
           R"(["url", [{"method":"GET","url":"/","body":"@@@","body_encoding":"base64"}], null, 1])",
           R"(["url", [{"method":"GET","url":"/","body":"x","body_encoding":"gzip"}], null, 1])",
           R"(["url", [{"method":"GET","url":"/","body":12}], null, 1])",
           R"(["url", [{"method":"GET","url":"/","body_file":"/etc/passwd"}], null, 1])",
           R"(["url", [{"method":"GET","url":"/","body_file":{"path":"/x","size":-1,"sha256":""}}], null, 1])",
           R"(["url", [{"method":"GET","url":"/","body_file":{"path":"/x","sha256":""}}], null, 1])",
           R"(["url", [{"method":"GET","url":"/","body_file":{"path":1,"size":1,"sha256":""}}], null, 1])",
           // only a spool file's path (protocol.md 11.2): a forged job cannot name another file
           R"(["url", [{"method":"GET","url":"/","body_file":{"path":"/etc/shadow","size":1,"sha256":""}}], null, 1])",
           R"(["url", [{"method":"GET","url":"/","body_file":{"path":"/s/../etc/upload-0123456789abcdef0123456789abcdef","size":1,"sha256":""}}], null, 1])",
           R"(["url", [{"method":"GET","url":"/","body_file":{"path":"upload-0123456789abcdef0123456789abcdef","size":1,"sha256":""}}], null, 1])",
           R"(["url", [{"method":"GET","url":"/","body_file":{"path":"/s/upload-0123456789ABCDEF0123456789abcdef","size":1,"sha256":""}}], null, 1])",
       }) {
    parsed_request p(text);
    EXPECT_NE(p.error, nullptr) << text;
  }
}

TEST(WorkerRequestDecode, ReusesTheRequestBetweenJobs) {
  parsed_job first(R"(["url", [{"method":"GET","url":"/1","headers":{"a":"1"},"body":"x"}], null, 1])");
  parsed_job second(R"(["url", [{"method":"GET","url":"/2"}], null, 2])");
  ASSERT_EQ(first.decode(), nullptr);
  ASSERT_EQ(second.decode(), nullptr);
  request req;
  std::string buf;
  ASSERT_EQ(request_access::decode(first.j, req, buf), nullptr);
  ASSERT_EQ(request_access::decode(second.j, req, buf), nullptr);
  EXPECT_EQ(req.url(), "/2");
  EXPECT_TRUE(req.headers().empty());
  EXPECT_TRUE(req.body().empty());
  EXPECT_EQ(req.job_id(), 2);
}

TEST(WorkerRequest, QueryParamsArePercentDecoded) {
  parsed_request p(R"(["url", [{"method":"GET","url":"/s?ms=250&name=a%20b+c&flag&k%65y=v&bad=%zz"}], null, 1])");
  ASSERT_EQ(p.error, nullptr);
  EXPECT_EQ(p.req.query_param("ms"), "250");
  EXPECT_EQ(p.req.query_param("name"), "a b c");
  EXPECT_EQ(p.req.query_param("flag"), "");
  EXPECT_EQ(p.req.query_param("key"), "v");
  EXPECT_EQ(p.req.query_param("bad"), "%zz");
  EXPECT_EQ(p.req.query_param("absent"), std::nullopt);
}

// ---- answers --------------------------------------------------------------------------------

boost::json::value encode(const response& res, int* dropped = nullptr) {
  std::string out;
  int d = detail::encode_url_answer(res, out);
  if (dropped) *dropped = d;
  return boost::json::parse(out);  // throws if the answer is not valid JSON
}

TEST(WorkerAnswerEncode, DefaultResponse) {
  std::string out;
  detail::encode_url_answer(response{}, out);
  EXPECT_EQ(out, R"([200,{},""])");
}

TEST(WorkerAnswerEncode, StatusHeadersAndTextBody) {
  response res;
  res.status = 404;
  res.set_header("Content-Type", "text/plain");
  res.body = "not \"found\"\n\x01";
  std::string out;
  detail::encode_url_answer(res, out);
  EXPECT_EQ(out, R"([404,{"Content-Type":"text/plain"},"not \"found\"\n\u0001"])");
}

TEST(WorkerAnswerEncode, RepeatedHeadersBecomeAnArray) {
  response res;
  res.add_header("Set-Cookie", "a=1");
  res.add_header("X-One", "1");
  res.add_header("set-cookie", "b=2");
  res.add_header("Set-Cookie", "c=3");
  auto v = encode(res);
  const auto& h = v.as_array()[1].as_object();
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h.at("X-One"), "1");
  EXPECT_EQ(h.at("Set-Cookie"), boost::json::array({"a=1", "b=2", "c=3"}));
}

TEST(WorkerAnswerEncode, BinaryBodyTravelsAsBase64Object) {
  response res;
  res.body = std::string("\x89PNG\r\n\x1a\n\x00\xff", 10);
  auto v = encode(res);
  const auto& body = v.as_array()[2];
  ASSERT_TRUE(body.is_object());
  std::string decoded;
  ASSERT_TRUE(base64_decode(body.as_object().at("base64").as_string(), decoded));
  EXPECT_EQ(decoded, res.body);
}

TEST(WorkerAnswerEncode, Utf8BodyStaysAString) {
  response res;
  res.body = "h\xc3\xa9llo \xf0\x9f\x98\x80";
  auto v = encode(res);
  EXPECT_EQ(v.as_array()[2], res.body.c_str());
}

TEST(WorkerAnswerEncode, InvalidHeadersAreDropped) {
  response res;
  res.add_header("Good", "yes");
  res.add_header("Bad Name", "x");
  res.add_header("", "x");
  res.add_header("X-Injected", "a\r\nSet-Cookie: evil=1");
  res.add_header("X-Binary", "\xff");
  int dropped = 0;
  auto v = encode(res, &dropped);
  EXPECT_EQ(dropped, 4);
  EXPECT_EQ(v.as_array()[1].as_object().size(), 1u);
}

TEST(WorkerAnswerEncode, StatusOutside200To599IsSentAs500) {
  for (int status : {0, 101, 199, 600, 1000, -1}) {
    response res;
    res.status = status;
    EXPECT_EQ(encode(res).as_array()[0], 500) << status;
  }
}

TEST(WorkerAnswerEncode, ErrorAnswerForOtherActions) {
  std::string out;
  detail::encode_error_answer(out);
  EXPECT_EQ(out, R"({"error":"internal error"})");
}

TEST(WorkerAnswerEncode, JobIdText) {
  char buf[24];
  EXPECT_EQ(detail::format_job_id(0, buf), "0");
  EXPECT_EQ(detail::format_job_id(9007199254740991, buf), "9007199254740991");
}

TEST(WorkerResponse, SetHeaderReplacesAnyCase) {
  response res;
  res.add_header("content-type", "a");
  res.add_header("CONTENT-TYPE", "b");
  res.set_header("Content-Type", "c");
  ASSERT_EQ(res.headers.size(), 1u);
  EXPECT_EQ(res.headers[0].second, "c");
  res.clear();
  EXPECT_EQ(res.status, 200);
  EXPECT_TRUE(res.headers.empty());
}

// ---- options --------------------------------------------------------------------------------

worker_options parse(std::vector<const char*> args) {
  args.insert(args.begin(), "worker");
  CLI::App app("test");
  return worker_options::parse(app, static_cast<int>(args.size()), args.data());
}

class WorkerOptions : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("TEMPEST_REDIS");
    unsetenv("TEMPEST_ANSWER_PASSWORD");
  }
  void TearDown() override { SetUp(); }
};

TEST_F(WorkerOptions, Defaults) {
  auto o = parse({});
  EXPECT_EQ(o.redis, "redis://127.0.0.1:6379/0");
  EXPECT_EQ(o.queue, "tempest");
  EXPECT_EQ(o.concurrency, 1);
  EXPECT_EQ(o.batch, 128);
  EXPECT_EQ(o.batch_time, std::chrono::milliseconds(1));
  EXPECT_EQ(o.log_level, "info");
  EXPECT_EQ(o.answer_password, "");
}

TEST_F(WorkerOptions, Flags) {
  auto o = parse({"--redis", "unix:/tmp/r.sock?db=2", "--queue", "q", "--concurrency", "4", "--batch", "64",
                  "--batch-time", "5ms", "--log-level", "debug", "--answer-password", "pw"});
  EXPECT_EQ(o.redis, "unix:/tmp/r.sock?db=2");
  EXPECT_EQ(o.queue, "q");
  EXPECT_EQ(o.concurrency, 4);
  EXPECT_EQ(o.batch, 64);
  EXPECT_EQ(o.batch_time, std::chrono::milliseconds(5));
  EXPECT_EQ(o.log_level, "debug");
  EXPECT_EQ(o.answer_password, "pw");
}

TEST_F(WorkerOptions, EnvironmentGivesDefaultsThatFlagsOverride) {
  setenv("TEMPEST_REDIS", "redis://10.0.0.1:7000/1", 1);
  setenv("TEMPEST_ANSWER_PASSWORD", "secret", 1);
  auto o = parse({});
  EXPECT_EQ(o.redis, "redis://10.0.0.1:7000/1");
  EXPECT_EQ(o.answer_password, "secret");
  EXPECT_EQ(parse({"--redis", "127.0.0.1:6380"}).redis, "127.0.0.1:6380");
}

TEST_F(WorkerOptions, BadValuesNameTheFlag) {
  auto message = [](std::vector<const char*> args) -> std::string {
    try {
      parse(std::move(args));
    } catch (const std::exception& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(message({"--batch", "0"}).find("batch"), std::string::npos);
  EXPECT_NE(message({"--concurrency", "x"}).find("concurrency"), std::string::npos);
  EXPECT_NE(message({"--redis", "ftp://h"}).find("redis"), std::string::npos);
  EXPECT_NE(message({"--log-level", "loud"}).find("log-level"), std::string::npos);
  EXPECT_NE(message({"--queue", ""}).find("queue"), std::string::npos);
  setenv("TEMPEST_REDIS", "ftp://h", 1);
  EXPECT_NE(message({}).find("TEMPEST_REDIS"), std::string::npos);
}

TEST_F(WorkerOptions, UnknownFlagAndHelpThrowCliErrors) {
  EXPECT_THROW(parse({"--bogus"}), CLI::ParseError);
  EXPECT_THROW(parse({"--help"}), CLI::CallForHelp);
}

TEST_F(WorkerOptions, ProgramsAddTheirOwnFlags) {
  CLI::App app("test");
  std::string greeting = "hi";
  app.add_option("--greeting", greeting);
  const char* argv[] = {"worker", "--greeting", "hello", "--batch", "2"};
  auto o = worker_options::parse(app, 5, argv);
  EXPECT_EQ(greeting, "hello");
  EXPECT_EQ(o.batch, 2);
}

TEST_F(WorkerOptions, AnswerAllowListsExactEndpoints) {
  EXPECT_TRUE(parse({}).answer_allow.empty());
  auto o = parse({"--answer-allow", "127.0.0.1:7000, old-front:6380,[::1]:9"});
  EXPECT_EQ(o.answer_allow, (std::vector<std::string>{"127.0.0.1:7000", "old-front:6380", "[::1]:9"}));
  auto message = [](const char* value) -> std::string {
    try {
      parse({"--answer-allow", value});
    } catch (const std::exception& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(message("127.0.0.1").find("answer-allow"), std::string::npos);
  EXPECT_NE(message("h:0").find("answer-allow"), std::string::npos);
  EXPECT_NE(message("h:99999").find("answer-allow"), std::string::npos);
}

}  // namespace
}  // namespace tempest
