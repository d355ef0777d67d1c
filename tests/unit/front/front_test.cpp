// Unit tests for src/front/: answer validation, job encoding, framing checks, the settings
// table (its example file and --help: tests/unit/core/settings_test.cpp).
#include "front/answer.hpp"
#include "front/front_config.hpp"
#include "front/http_checks.hpp"
#include "front/job_encode.hpp"
#include "front/route_rules.hpp"

#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace tempest;
using namespace tempest::front;
namespace http = boost::beast::http;
namespace json = boost::json;

TEST(answer, valid_answer) {
  http_answer a;
  std::string why;
  ASSERT_TRUE(parse_answer(R"([201, {"Content-Type": "text/plain", "Set-Cookie": ["a=1", "b=2"]}, "hi"])", a, why)) << why;
  EXPECT_EQ(a.status, 201);
  ASSERT_EQ(a.headers.size(), 3u);
  EXPECT_EQ(a.headers[1].first, "Set-Cookie");
  EXPECT_EQ(a.headers[2].second, "b=2");
  EXPECT_EQ(a.body, "hi");
}

TEST(answer, base64_body_and_dropped_framing_headers) {
  http_answer a;
  std::string why;
  ASSERT_TRUE(parse_answer(R"([200, {"Content-Length": "99", "Transfer-Encoding": "chunked", "X": "y"}, {"base64": "AP8="}])", a, why));
  ASSERT_EQ(a.headers.size(), 1u);
  EXPECT_EQ(a.headers[0].first, "X");
  EXPECT_EQ(a.body, std::string("\x00\xff", 2));
}

TEST(answer, invalid_answers_say_why) {
  for (const char* bad : {
           "not json", "[]", "[999, {}, \"\"]", "[100, {}, \"\"]",
           R"([200, [], ""])", R"([200, {"X": "a\r\nInjected: 1"}, ""])", R"([200, {"Bad Name": "v"}, ""])",
           R"([200, {"X": "a\u0000b"}, ""])", R"([200, {}, 5])", R"([200, {}, {"base64": "**"}])"}) {
    http_answer a;
    std::string why;
    EXPECT_FALSE(parse_answer(bad, a, why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

namespace {
http_request make_request(http::verb v, std::string target, std::string body = {}) {
  http_request req{v, target, 11};
  req.set(http::field::host, "example");
  req.insert("X-Dup", "1");
  req.insert("x-dup", "2");
  req.insert("Cookie", "a=1");
  req.insert("Cookie", "b=2");
  if (!body.empty()) {
    req.body().text = body;
    req.prepare_payload();
  }
  return req;
}

// Encodes req as the session does: its target parsed once, then the job.
void encode_job(std::string& out, const http_request& req, std::string_view remote_addr, std::string_view respond_to,
                std::uint64_t job_id, const job_meta& meta = {}) {
  std::string scratch;
  target_parts target;
  EXPECT_EQ(parse_target(req.target(), scratch, target), target_error::none) << req.target();
  tempest::front::encode_job(out, req, target, remote_addr, respond_to, job_id, meta);
}
}  // namespace

TEST(job_encode, original_format_with_extra_fields) {
  std::string out;
  encode_job(out, make_request(http::verb::get, "/p/q?x=1&y=2"), "127.0.0.1:5000", "127.0.0.1:7000", 42);
  auto v = json::parse(out).as_array();
  ASSERT_EQ(v.size(), 4u);
  EXPECT_EQ(v[0].as_string(), "url");
  EXPECT_EQ(v[2].as_string(), "127.0.0.1:7000");
  EXPECT_EQ(v[3].as_int64(), 42);
  auto& req = v[1].as_array()[0].as_object();
  EXPECT_EQ(req.at("method").as_string(), "GET");
  EXPECT_EQ(req.at("url").as_string(), "/p/q?x=1&y=2");
  EXPECT_EQ(req.at("path").as_string(), "/p/q");
  EXPECT_EQ(req.at("query").as_string(), "x=1&y=2");
  EXPECT_EQ(req.at("headers").at("host").as_string(), "example");
  EXPECT_EQ(req.at("headers").at("x-dup").as_string(), "1, 2");
  EXPECT_EQ(req.at("headers").at("cookie").as_string(), "a=1; b=2");
  EXPECT_FALSE(req.contains("body"));
  EXPECT_EQ(req.at("remote_addr").as_string(), "127.0.0.1:5000");
  EXPECT_EQ(req.at("http_version").as_string(), "1.1");
}

// The exact bytes, so that a faster encoder cannot change the wire format unnoticed.
TEST(job_encode, exact_bytes) {
  std::string out;
  http_request req{http::verb::post, "/a?b=1", 11};
  req.set(http::field::host, "h");
  req.insert("X-Dup", "1");
  req.insert("X-Dup", "2");
  req.body().text = "x\"y";
  req.prepare_payload();
  std::string scratch;
  target_parts target;
  ASSERT_EQ(parse_target(req.target(), scratch, target), target_error::none);
  job_meta meta;
  meta.priority = "high";
  meta.deadline_ms = 1700000000123;
  meta.retry = false;
  tempest::front::encode_job(out, req, target, "127.0.0.1:5", "127.0.0.1:7", 9, meta);
  EXPECT_EQ(out, R"(["url",[{"method":"POST","url":"/a?b=1","path":"/a","query":"b=1",)"
                 R"("headers":{"content-length":"3","host":"h","x-dup":"1, 2"},"body":"x\"y",)"
                 R"("remote_addr":"127.0.0.1:5","http_version":"1.1","priority":"high",)"
                 R"("deadline":1700000000123,"retry":false}],"127.0.0.1:7",9])");
  out.clear();
  meta.deadline_ms = 0;
  tempest::front::encode_job(out, req, target, "", "", 10, meta);
  EXPECT_NE(out.find(R"("priority":"high","retry":false}],null,10])"), std::string::npos) << out;
}

TEST(job_encode, text_and_binary_bodies) {
  std::string out;
  encode_job(out, make_request(http::verb::post, "/", "h\xc3\xa9llo \"q\""), "", "a:1", 1);
  auto text = json::parse(out).as_array()[1].as_array()[0].as_object();
  EXPECT_EQ(text.at("body").as_string(), "h\xc3\xa9llo \"q\"");
  EXPECT_FALSE(text.contains("body_encoding"));
  out.clear();
  std::string bin("\x00\xff\xfe\x01", 4);
  encode_job(out, make_request(http::verb::post, "/", bin), "", "a:1", 2);
  auto b = json::parse(out).as_array()[1].as_array()[0].as_object();
  EXPECT_EQ(b.at("body_encoding").as_string(), "base64");
  EXPECT_EQ(b.at("body").as_string(), "AP/+AQ==");
}

TEST(job_encode, obs_text_in_headers_stays_valid_json) {
  http_request req{http::verb::get, "/", 11};
  req.set(http::field::host, "h");
  req.set("X-Latin", "caf\xe9");
  std::string out;
  encode_job(out, req, "", "", 3);
  auto v = json::parse(out).as_array();
  EXPECT_TRUE(v[2].is_null());
  EXPECT_EQ(v[1].as_array()[0].at("headers").at("x-latin").as_string(), "caf\xc3\xa9");
}

TEST(http_checks, framing_rules) {
  auto check = [](std::initializer_list<std::pair<const char*, const char*>> fields, unsigned version = 11) {
    http::request_header<> h;
    h.version(version);
    for (auto& [n, v] : fields) h.insert(n, v);
    return check_request_header(h);
  };
  EXPECT_EQ(check({{"Host", "a"}}), errc::none);
  EXPECT_EQ(check({}), errc::bad_request);
  EXPECT_EQ(check({}, 10), errc::none);
  EXPECT_EQ(check({{"Host", "a"}, {"Host", "b"}}), errc::bad_request);
  EXPECT_EQ(check({{"Host", "a"}, {"Transfer-Encoding", "chunked"}}), errc::none);
  EXPECT_EQ(check({{"Host", "a"}, {"Transfer-Encoding", "Chunked "}}), errc::none);
  EXPECT_EQ(check({{"Host", "a"}, {"Transfer-Encoding", "chunked"}, {"Content-Length", "3"}}), errc::bad_request);
  EXPECT_EQ(check({{"Host", "a"}, {"Transfer-Encoding", "chunked, gzip"}}), errc::bad_request);
  EXPECT_EQ(check({{"Host", "a"}, {"Transfer-Encoding", "gzip"}}), errc::bad_request);
  EXPECT_EQ(check({{"Host", "a"}, {"Transfer-Encoding", "gzip, chunked"}}), errc::not_implemented);
  EXPECT_EQ(check({{"Host", "a"}, {"Transfer-Encoding", "chunked, chunked"}}), errc::bad_request);
  EXPECT_EQ(check({{"Host", "a"}, {"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}), errc::bad_request);
  EXPECT_EQ(check({{"Transfer-Encoding", "chunked"}}, 10), errc::bad_request);
  EXPECT_EQ(check({{"Host", "a"}, {"Content-Length", "3"}, {"Content-Length", "3"}}), errc::bad_request);
  EXPECT_EQ(check({{"Host", "a"}, {"Content-Length", "3"}}), errc::none);
  EXPECT_EQ(check({{"Host", "a"}, {"Content-Length", "0"}}), errc::none);
  EXPECT_EQ(check({{"Host", "a"}, {"Content-Length", "1, 1"}}), errc::bad_request);
  EXPECT_EQ(check({{"Host", "a"}, {"Content-Length", "1,1"}}), errc::bad_request);
}

TEST(front_config, defaults_flags_and_errors) {
  front_config cfg;
  auto table = make_front_settings(cfg);
  CLI::App app;
  table.add_to(app);
  const char* argv[] = {"front", "--timeout", "500ms", "--max-body-size", "2m", "--listen", "0.0.0.0:9000"};
  app.parse(7, const_cast<char**>(argv));
  table.resolve();
  EXPECT_EQ(cfg.timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(cfg.max_body_size, 2u * 1024 * 1024);
  EXPECT_EQ(cfg.listen_host, "0.0.0.0");
  EXPECT_EQ(cfg.listen_port, 9000);
  EXPECT_EQ(cfg.queue, "tempest");
  EXPECT_EQ(cfg.answer_host, "127.0.0.1");

  front_config cfg2;
  auto t2 = make_front_settings(cfg2);
  CLI::App app2;
  t2.add_to(app2);
  const char* bad[] = {"front", "--timeout", "soon"};
  app2.parse(3, const_cast<char**>(bad));
  try {
    t2.resolve();
    FAIL() << "a bad duration must be refused";
  } catch (const config_error& e) {
    EXPECT_NE(std::string(e.what()).find("--timeout"), std::string::npos) << e.what();
  }
}

TEST(front_config, sub_prefix_and_route_prefixes_must_be_normalised) {
  auto refused = [](const char* flag, const char* value) {
    front_config cfg;
    auto table = make_front_settings(cfg);
    CLI::App app;
    table.add_to(app);
    const char* argv[] = {"front", flag, value};
    app.parse(3, const_cast<char**>(argv));
    try {
      table.resolve();
    } catch (const config_error& e) {
      return std::string(e.what()).find(flag) != std::string::npos;
    }
    return false;
  };
  for (const char* bad : {"/a//", "/./sub/", "/%73ub/", "/a/../sub/", "/s%2Fb/", "/sub?x/"})
    EXPECT_TRUE(refused("--sub-prefix", bad)) << bad;
  EXPECT_FALSE(refused("--sub-prefix", "/events/"));
  EXPECT_TRUE(refused("--retry-routes", "PUT //pay=no"));
  EXPECT_TRUE(refused("--priority-routes", "/%70ay=high"));
  EXPECT_FALSE(refused("--priority-routes", "PUT /pay=high"));
}

TEST(route_rules, parse_and_match) {
  auto rules = parse_route_rules("POST /upload=low, /admin/=high ,GET=normal");
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(match_route(rules, "POST", "/upload/x").value_or(""), "low");
  EXPECT_EQ(match_route(rules, "PUT", "/upload/x").value_or("none"), "none");
  EXPECT_EQ(match_route(rules, "POST", "/admin/users").value_or(""), "high");
  EXPECT_EQ(match_route(rules, "GET", "/admin/users").value_or(""), "high");  // first match wins
  EXPECT_EQ(match_route(rules, "GET", "/other").value_or(""), "normal");
  EXPECT_TRUE(parse_route_rules("").empty());
  EXPECT_THROW(parse_route_rules("/x"), std::invalid_argument);
  EXPECT_THROW(parse_route_rules("get /x=low"), std::invalid_argument);
  EXPECT_THROW(parse_route_rules("POST x=low"), std::invalid_argument);
}

TEST(job_encode, reliability_fields) {
  std::string out;
  job_meta meta{"high", 1800000000000, false};
  encode_job(out, make_request(http::verb::post, "/p"), "", "a:1", 7, meta);
  auto req = json::parse(out).as_array()[1].as_array()[0].as_object();
  EXPECT_EQ(req.at("priority").as_string(), "high");
  EXPECT_EQ(req.at("deadline").as_int64(), 1800000000000);
  EXPECT_EQ(req.at("retry").as_bool(), false);
  EXPECT_NE(out.find("\"retry\":false"), std::string::npos);  // the reaper looks for this text
}

TEST(job_encode, path_is_normalised_and_url_is_the_raw_target) {
  std::string out;
  encode_job(out, make_request(http::verb::put, "http://x/pay?k=v"), "", "a:1", 8);
  auto req = json::parse(out).as_array()[1].as_array()[0].as_object();
  EXPECT_EQ(req.at("url").as_string(), "http://x/pay?k=v");
  EXPECT_EQ(req.at("path").as_string(), "/pay");
  EXPECT_EQ(req.at("query").as_string(), "k=v");
  out.clear();
  encode_job(out, make_request(http::verb::put, "/a/./b/../%70ay//x?q=%2F"), "", "a:1", 9);
  req = json::parse(out).as_array()[1].as_array()[0].as_object();
  EXPECT_EQ(req.at("url").as_string(), "/a/./b/../%70ay//x?q=%2F");
  EXPECT_EQ(req.at("path").as_string(), "/a/pay/x");
  EXPECT_EQ(req.at("query").as_string(), "q=%2F");
}

TEST(route_rules, prefixes_must_be_normalised_paths) {
  for (const char* bad : {"/%70ay=no", "//pay=no", "PUT /a/../pay=no", "/./pay=no", "/../x=no", "/a%2Fb=no", "/p?x=no",
                          "/a%2f=no", "/%zz=no", "/x#y=no"})
    EXPECT_THROW(parse_route_rules(bad), std::invalid_argument) << bad;
  try {
    parse_route_rules("PUT /a/../pay=no");
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'/pay'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(parse_route_rules("/caf%C3%A9/=high").at(0).prefix, "/caf%C3%A9/");
}

// Header names are sorted lower-cased and the values of one name joined in the order sent,
// whatever the case of each and however many fields there are (a short list and a long one
// take different sorts).
TEST(job_encode, headers_sorted_and_joined_in_order_whatever_the_case) {
  for (int extra : {0, 30}) {
    http_request req{http::verb::get, "/", 11};
    req.insert("X-B", "1");
    req.insert("x-a", "first");
    for (int i = 0; i < extra; ++i) req.insert("X-F" + std::to_string(100 + i), "v");
    req.insert("X-A", "second");
    req.insert("x-b", "2");
    req.insert("X-a", "third");
    std::string out;
    encode_job(out, req, "", "", 1);
    auto headers = json::parse(out).as_array()[1].as_array()[0].as_object().at("headers").as_object();
    EXPECT_EQ(headers.at("x-a").as_string(), "first, second, third") << extra;
    EXPECT_EQ(headers.at("x-b").as_string(), "1, 2") << extra;
    ASSERT_EQ(headers.size(), 2u + extra);
    std::string previous;
    for (auto& [name, value] : headers) {  // the object keeps the order of the bytes
      EXPECT_LT(previous, std::string(name)) << extra;
      previous = name;
    }
  }
}
