// Unit tests for src/core/: durations and sizes, Redis URLs, the JSON writer, base64, RESP.
#include "core/duration.hpp"
#include "core/json_writer.hpp"
#include "core/redis_url.hpp"
#include "core/resp.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

using namespace tempest;
using namespace std::chrono_literals;

TEST(duration, parses_units) {
  EXPECT_EQ(parse_duration("500ms"), 500ms);
  EXPECT_EQ(parse_duration("30s"), 30s);
  EXPECT_EQ(parse_duration("2"), 2s);
  EXPECT_EQ(parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(parse_duration("5m"), 300s);
  EXPECT_EQ(parse_duration("1h"), 3600s);
  EXPECT_THROW(parse_duration("fast"), std::invalid_argument);
  EXPECT_THROW(parse_duration("10 parsecs"), std::invalid_argument);
  EXPECT_THROW(parse_duration(""), std::invalid_argument);
}

// Issue 7 item 9: 99999999999h was 3.6e17 ms; now + that overflowed (UBSan) in the deadline.
TEST(duration, too_long_is_refused_not_overflowed) {
  EXPECT_EQ(parse_duration("8760h"), max_duration);
  EXPECT_THROW(parse_duration("8761h"), std::invalid_argument);
  EXPECT_THROW(parse_duration("99999999999h"), std::invalid_argument);
  EXPECT_THROW(parse_duration("99999999999999999999999999ms"), std::invalid_argument);
  EXPECT_THROW(parse_duration("31536000001ms"), std::invalid_argument);
  try {
    parse_duration("99999999999h");
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("too long"), std::string::npos) << e.what();
  }
  // The bound leaves steady_clock (int64 ns) and system_clock far from overflow.
  auto far = std::chrono::steady_clock::now() + 2 * max_duration;
  EXPECT_GT(far, std::chrono::steady_clock::now());
  static_assert(std::chrono::nanoseconds::max() / 100 > 2 * max_duration);
}

TEST(size, too_large_is_refused_not_wrapped) {
  // 99999999999g is about 1.07e20 bytes: converting that double to uint64 is undefined (it gave
  // 0, so --max-body-size 99999999999g passed its range check and every POST got 413).
  EXPECT_THROW(parse_size("99999999999g"), std::invalid_argument);
  EXPECT_THROW(parse_size("18446744073709551616"), std::invalid_argument);
  EXPECT_THROW(parse_size("17179869184g"), std::invalid_argument);  // 2^34 GiB = 2^64 bytes
  EXPECT_EQ(parse_size("17179869183g"), 17179869183ull << 30);     // 2^64 - 2^30 fits
  EXPECT_EQ(parse_size("4g"), 1ull << 32);
  try {
    parse_size("99999999999g");
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("too large"), std::string::npos) << e.what();
  }
}

TEST(size, parses_units) {
  EXPECT_EQ(parse_size("512"), 512u);
  EXPECT_EQ(parse_size("16k"), 16384u);
  EXPECT_EQ(parse_size("1m"), 1048576u);
  EXPECT_EQ(parse_size("1MiB"), 1048576u);
  EXPECT_THROW(parse_size("big"), std::invalid_argument);
  EXPECT_THROW(parse_size("1x"), std::invalid_argument);
}

TEST(redis_url, forms) {
  auto a = parse_redis_url("redis://10.0.0.1:6380/2");
  EXPECT_EQ(a.host, "10.0.0.1");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.db, 2);
  auto b = parse_redis_url("redis://:secret@localhost");
  EXPECT_EQ(b.host, "localhost");
  EXPECT_EQ(b.port, 6379);
  EXPECT_EQ(b.password, "secret");
  auto c = parse_redis_url("unix:/run/redis.sock?db=3");
  EXPECT_TRUE(c.is_unix());
  EXPECT_EQ(c.unix_path, "/run/redis.sock");
  EXPECT_EQ(c.db, 3);
  EXPECT_EQ(parse_redis_url("unix:///tmp/r.sock").unix_path, "/tmp/r.sock");
  EXPECT_EQ(parse_redis_url("127.0.0.1:7000").port, 7000);
  auto v6 = parse_redis_url("redis://[::1]:7001/0");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 7001);
  EXPECT_EQ(v6.to_string(), "redis://[::1]:7001/0");
  EXPECT_THROW(parse_redis_url("http://x"), std::invalid_argument);
  EXPECT_THROW(parse_redis_url("redis://host:99999"), std::invalid_argument);
  EXPECT_THROW(parse_redis_url("redis://host/x"), std::invalid_argument);
  EXPECT_THROW(parse_redis_url("unix:"), std::invalid_argument);
}

// Issue 7 item 9: "redis://[::1" was taken as host "::" port 6379.
TEST(redis_url, ipv6_brackets_must_close) {
  EXPECT_THROW(parse_redis_url("redis://[::1"), std::invalid_argument);
  EXPECT_THROW(parse_redis_url("[::1"), std::invalid_argument);
  EXPECT_THROW(parse_redis_url("redis://[::1/0"), std::invalid_argument);
  EXPECT_THROW(parse_redis_url("redis://[::1]x"), std::invalid_argument);
  EXPECT_THROW(parse_redis_url("redis://[::1]6379"), std::invalid_argument);
  EXPECT_THROW(parse_redis_url("redis://[]"), std::invalid_argument);
  EXPECT_THROW(parse_redis_url("redis://[]:6379"), std::invalid_argument);
  auto a = parse_redis_url("redis://[::1]");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 6379);
  auto b = parse_redis_url("redis://[::1]/4");
  EXPECT_EQ(b.host, "::1");
  EXPECT_EQ(b.db, 4);
  std::string host;
  std::uint16_t port = 0;
  EXPECT_THROW(split_host_port("[::1", host, port), std::invalid_argument);
}

TEST(json_writer, nested_values_are_valid_json) {
  std::string out;
  json_writer w(out);
  w.begin_array();
  w.string("url");
  w.begin_object();
  w.key("a");
  w.number(-5);
  w.key("b");
  w.begin_array();
  w.boolean(true);
  w.null();
  w.end_array();
  w.key("c\"");
  w.string("line\nbreak\t\x01");
  w.end_object();
  w.number(9007199254740991);
  w.end_array();
  EXPECT_EQ(out, R"(["url",{"a":-5,"b":[true,null],"c\"":"line\nbreak\t\u0001"},9007199254740991])");
  EXPECT_NO_THROW(boost::json::parse(out));
}

TEST(json_writer, utf8_validation) {
  EXPECT_TRUE(is_valid_utf8("plain ascii text that is long enough"));
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xc3"));              // truncated
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(is_valid_utf8("12345678\x80"));      // after the 8-byte fast path
}

TEST(base64, round_trips_every_byte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t n : {0u, 1u, 2u, 3u, 4u, 255u, 256u}) {
    std::string in = all.substr(0, n), out;
    ASSERT_TRUE(base64_decode(base64_encode(in), out));
    EXPECT_EQ(out, in) << n;
  }
  EXPECT_EQ(base64_encode("hi"), "aGk=");
  std::string out;
  EXPECT_FALSE(base64_decode("a*b", out));
}

TEST(resp, formats_through_hiredis) {
  EXPECT_EQ(format_command({"RPUSH", "q", "a b"}), "*3\r\n$5\r\nRPUSH\r\n$1\r\nq\r\n$3\r\na b\r\n");
}

TEST(resp, reads_commands_split_anywhere) {
  std::string wire = format_command({"url", "42", "[200,{},\"hi\"]"}) + format_command({"PING"});
  for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
    resp_reader r(1024);
    r.feed(wire.data(), cut);
    std::vector<resp_value> got;
    while (auto v = r.next()) got.push_back(*v);
    r.feed(wire.data() + cut, wire.size() - cut);
    while (auto v = r.next()) got.push_back(*v);
    ASSERT_EQ(got.size(), 2u) << "cut at " << cut;
    EXPECT_EQ(got[0].elements.at(2).str, "[200,{},\"hi\"]");
    EXPECT_EQ(got[1].elements.at(0).str, "PING");
  }
}

TEST(resp, inline_commands) {
  resp_reader r(1024, true);
  std::string wire = "PING\r\nECHO  hello\r\n" + format_command({"QUIT"});
  r.feed(wire.data(), wire.size());
  auto a = r.next(), b = r.next(), c = r.next();
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->elements.at(0).str, "PING");
  EXPECT_EQ(b->elements.at(1).str, "hello");
  EXPECT_EQ(c->elements.at(0).str, "QUIT");
}

TEST(resp, oversized_message_is_an_error) {
  resp_reader r(100);
  std::string wire = format_command({"url", "1", std::string(500, 'x')});
  r.feed(wire.data(), 200);
  EXPECT_FALSE(r.next());
  EXPECT_FALSE(r.error().empty());
}

TEST(resp, garbage_is_an_error) {
  resp_reader r(100);
  r.feed("*x\r\n", 4);
  EXPECT_FALSE(r.next());
  EXPECT_FALSE(r.error().empty());
}
