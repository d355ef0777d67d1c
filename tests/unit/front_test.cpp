// Unit tests for src/front/: answer validation, job encoding, framing checks, the settings
// table (and that docs/tempest.example.toml is what the table generates).
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
    req.body() = body;
    req.prepare_payload();
  }
  return req;
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

TEST(front_config, example_file_matches_the_table) {
  front_config cfg;
  auto table = make_front_settings(cfg);
  std::ifstream f(TEMPEST_SOURCE_DIR "/docs/tempest.example.toml");
  ASSERT_TRUE(f) << "docs/tempest.example.toml is missing";
  std::stringstream file;
  file << f.rdbuf();
  EXPECT_EQ(file.str(), table.example_toml("Tempest front configuration (tempest front --config FILE)"))
      << "regenerate with: build/tempest front --print-example-config > docs/tempest.example.toml";
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

TEST(job_encode, split_target_gives_the_path_of_every_form) {
  auto path = [](std::string_view t) { return std::string(split_target(t).path); };
  auto query = [](std::string_view t) { return std::string(split_target(t).query); };
  EXPECT_EQ(path("/p/q?x=1"), "/p/q");
  EXPECT_EQ(query("/p/q?x=1"), "x=1");
  EXPECT_EQ(path("http://x/pay"), "/pay");
  EXPECT_EQ(path("HTTPS://u@x:8443/pay/sub?a=b"), "/pay/sub");
  EXPECT_EQ(query("https://x/pay?a=b"), "a=b");
  EXPECT_EQ(path("http://x"), "/");
  EXPECT_EQ(path("http://x?a=1"), "/");
  EXPECT_EQ(query("http://x?a=1"), "a=1");
  EXPECT_EQ(path("/a://b/c"), "/a://b/c");  // a path, not a scheme
  EXPECT_EQ(path("*"), "*");
  EXPECT_EQ(query("/p"), "");
  std::string out;
  encode_job(out, make_request(http::verb::put, "http://x/pay?k=v"), "", "a:1", 8);
  auto req = json::parse(out).as_array()[1].as_array()[0].as_object();
  EXPECT_EQ(req.at("url").as_string(), "http://x/pay?k=v");
  EXPECT_EQ(req.at("path").as_string(), "/pay");
  EXPECT_EQ(req.at("query").as_string(), "k=v");
}
