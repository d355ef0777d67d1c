// Unit tests for src/core/: durations and sizes, Redis URLs, the JSON writer, base64, RESP
// (formatting, and the bounded reader: limits, skipping, malformed input).
#include "core/duration.hpp"
#include "core/json_writer.hpp"
#include "core/redis_url.hpp"
#include "core/resp.hpp"

#include <boost/json/parse.hpp>
#include <hiredis/hiredis.h>
#include <gtest/gtest.h>

#include <malloc.h>

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

// append_json_string scans eight bytes at a time: every byte value, at every place in and
// around a word, next to bytes from 0x80 up, must be written as a byte-by-byte escape would.
TEST(json_writer, every_byte_at_every_place_is_escaped_as_one_at_a_time_would) {
  auto reference = [](std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
      if (c == '"') out += "\\\"";
      else if (c == '\\') out += "\\\\";
      else if (c == '\n') out += "\\n";
      else if (c == '\r') out += "\\r";
      else if (c == '\t') out += "\\t";
      else if (c == '\b') out += "\\b";
      else if (c == '\f') out += "\\f";
      else if (c < 0x20) { char esc[8]; std::snprintf(esc, sizeof esc, "\\u%04x", c); out += esc; }
      else out += static_cast<char>(c);
    }
    return out + "\"";
  };
  for (char filler : {'a', '\x80', '\xff', '!', '#'})
    for (int b = 0; b < 256; ++b)
      for (std::size_t at = 0; at < 18; ++at) {
        std::string s(18, filler);
        s[at] = static_cast<char>(b);
        std::string out = "x";
        append_json_string(out, s);
        ASSERT_EQ(out, "x" + reference(s)) << "byte " << b << " at " << at;
      }
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

TEST(resp, formats_as_hiredis_does) {
  EXPECT_EQ(format_command({"RPUSH", "q", "a b"}), "*3\r\n$5\r\nRPUSH\r\n$1\r\nq\r\n$3\r\na b\r\n");
  const std::string binary("\0\r\n\xff", 4), big(100000, 'x');
  for (std::vector<std::string_view> argv : {std::vector<std::string_view>{"PING"},
                                             {"SET", "", binary},
                                             {"RPUSH", "q", big, "1", "22", std::string_view(big).substr(0, 12345)}}) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (auto a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    char* cmd = nullptr;
    int n = redisFormatCommandArgv(&cmd, static_cast<int>(argv.size()), ptrs.data(), lens.data());
    ASSERT_GT(n, 0);
    std::string expected(cmd, static_cast<std::size_t>(n));
    redisFreeCommand(cmd);
    EXPECT_EQ(format_command(argv), expected);
  }
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

// --- resp_reader: every declared length is bounded before anything is allocated (issue 7.1)

namespace {
resp_limits command_limits(std::size_t max_message) {
  resp_limits l;
  l.commands = true;
  l.accept_inline = true;
  l.max_depth = 1;
  l.max_elements = 16;
  l.max_message = max_message;
  return l;
}

// Heap bytes in use (small blocks and mmapped ones), to show a header costs no allocation.
std::size_t heap_in_use() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

std::vector<resp_value> read_all(resp_reader& r, std::string_view wire, std::size_t piece) {
  std::vector<resp_value> got;
  for (std::size_t at = 0; at < wire.size(); at += piece) {
    r.feed(wire.data() + at, std::min(piece, wire.size() - at));
    while (auto v = r.next()) got.push_back(std::move(*v));
  }
  return got;
}
}  // namespace

TEST(resp, huge_array_header_is_refused_before_any_allocation) {
  for (bool accept_inline : {false, true}) {
    resp_reader r(16 << 20, accept_inline);
    r.feed("*2147483647\r\n", 13);
    EXPECT_FALSE(r.next());
    EXPECT_NE(r.error().find("multibulk length"), std::string::npos) << r.error();
  }
  resp_reader c(command_limits(1 << 20));
  c.feed("*17\r\n", 5);  // one over max_elements
  EXPECT_FALSE(c.next());
  EXPECT_FALSE(c.error().empty());
}

TEST(resp, an_allowed_array_header_costs_nothing_until_its_items_arrive) {
  resp_reader r(512 << 20);  // the reply form: up to 2^24 items in an array
  std::size_t before = heap_in_use();
  std::string header = "*16000000\r\n*16000000\r\n*16000000\r\n";
  r.feed(header.data(), header.size());
  EXPECT_FALSE(r.next());
  EXPECT_TRUE(r.error().empty()) << r.error();
  // hiredis 0.14 callocs 128 MB per such header here.
  EXPECT_LT(heap_in_use() - before, 64u * 1024);
}

TEST(resp, bulk_length_over_the_limit_is_refused_at_its_header) {
  resp_reader r(100);
  r.feed("*1\r\n$1000000\r\n", 15);
  EXPECT_FALSE(r.next());
  EXPECT_NE(r.error().find("larger than the limit"), std::string::npos) << r.error();
  resp_reader neg(100);
  neg.feed("*1\r\n$-2\r\n", 9);
  EXPECT_FALSE(neg.next());
  EXPECT_FALSE(neg.error().empty());
}

TEST(resp, the_message_limit_is_exact) {
  std::string wire = format_command({"url", "1", std::string(70000, 'x')});
  for (std::size_t piece : {wire.size(), std::size_t{4096}}) {
    resp_reader fits(wire.size());
    auto got = read_all(fits, wire, piece);
    ASSERT_EQ(got.size(), 1u) << fits.error();
    EXPECT_EQ(got[0].elements.at(2).str.size(), 70000u);
    resp_reader over(wire.size() - 1);
    EXPECT_TRUE(read_all(over, wire, piece).empty());
    EXPECT_FALSE(over.error().empty()) << "one byte over the limit was accepted, piece " << piece;
  }
}

TEST(resp, skip_oversized_drops_the_bulk_and_keeps_the_stream) {
  resp_limits l = command_limits(100);
  l.skip_oversized = true;
  std::string wire = format_command({"url", "7", std::string(5000, 'x')}) + format_command({"PING"});
  for (std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{64}, wire.size()}) {
    resp_reader r(l);
    std::vector<resp_value> got;
    std::size_t most_buffered = 0;
    for (std::size_t at = 0; at < wire.size(); at += piece) {
      r.feed(wire.data() + at, std::min(piece, wire.size() - at));
      while (auto v = r.next()) got.push_back(std::move(*v));
      most_buffered = std::max(most_buffered, r.buffered());
    }
    ASSERT_TRUE(r.error().empty()) << r.error();
    ASSERT_EQ(got.size(), 2u) << "piece " << piece;
    ASSERT_EQ(got[0].elements.size(), 3u);
    EXPECT_EQ(got[0].elements[1].str, "7");
    EXPECT_EQ(got[0].elements[2].type, resp_value::kind::skipped);
    EXPECT_EQ(got[0].elements[2].integer, 5000);
    EXPECT_EQ(got[1].elements.at(0).str, "PING");
    if (piece < wire.size()) {
      EXPECT_LE(most_buffered, 100 + piece) << "the dropped bulk was buffered";
    }
  }
}

TEST(resp, reply_values_of_every_type_split_anywhere) {
  std::string wire = "+OK\r\n-ERR x\r\n:-42\r\n$-1\r\n*-1\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n$0\r\n\r\n";
  for (std::size_t piece : {std::size_t{1}, std::size_t{3}, wire.size()}) {
    resp_reader r(1024);
    auto got = read_all(r, wire, piece);
    ASSERT_EQ(got.size(), 7u) << r.error();
    EXPECT_EQ(got[0].type, resp_value::kind::status);
    EXPECT_EQ(got[1].str, "ERR x");
    EXPECT_EQ(got[2].integer, -42);
    EXPECT_EQ(got[3].type, resp_value::kind::nil);
    EXPECT_EQ(got[4].type, resp_value::kind::nil);
    EXPECT_EQ(got[5].elements.at(1).elements.at(0).integer, 1);
    EXPECT_EQ(got[6].type, resp_value::kind::string);
  }
}

TEST(resp, malformed_input_is_an_error) {
  std::string nest_ok, nest_deep;
  for (int i = 0; i < 8; ++i) nest_ok += "*1\r\n";
  nest_deep = nest_ok + "*1\r\n";
  resp_reader ok(1024);
  std::string w = nest_ok + ":1\r\n";
  ok.feed(w.data(), w.size());
  EXPECT_TRUE(ok.next()) << ok.error();
  std::vector<std::string> bad_inputs{nest_deep + ":1\r\n", "$" + std::string(40, '0') + "5\r\n", "*1\r\n$3\r\nabcde",
                                      "?x\r\n", ":12a\r\n", "+no crlf\n", "*1\r\n$-2\r\n"};
  for (const std::string& bad : bad_inputs) {
    resp_reader r(1024);
    r.feed(bad.data(), bad.size());
    EXPECT_FALSE(r.next()) << bad;
    EXPECT_FALSE(r.error().empty()) << bad;
  }
  resp_reader cmd(command_limits(1024));  // commands are arrays of bulk strings only
  cmd.feed("*1\r\n:1\r\n", 8);
  EXPECT_FALSE(cmd.next());
  EXPECT_NE(cmd.error().find("expected '$'"), std::string::npos) << cmd.error();
}

TEST(resp, long_lines_are_bounded) {
  resp_reader status(100);  // a status line may not run past the message limit
  std::string line = "+" + std::string(200, 'a');
  status.feed(line.data(), line.size());
  EXPECT_FALSE(status.next());
  EXPECT_FALSE(status.error().empty());
  resp_reader inl(command_limits(1 << 20));  // an inline line is at most max_inline
  std::string text(70 * 1024, 'a');
  inl.feed(text.data(), text.size());
  EXPECT_FALSE(inl.next());
  EXPECT_NE(inl.error().find("inline"), std::string::npos) << inl.error();
}

TEST(resp, inline_commands_can_be_turned_off) {
  resp_reader r(command_limits(1024));
  r.feed("PING\r\n", 6);
  ASSERT_TRUE(r.next());
  resp_limits l = r.limits();
  l.accept_inline = false;
  r.set_limits(l);
  std::string wire = format_command({"PING"}) + "url 1 [200,{},\"x\"]\r\n";
  r.feed(wire.data(), wire.size());
  EXPECT_TRUE(r.next());  // an array is still read
  EXPECT_FALSE(r.next());
  EXPECT_NE(r.error().find("expected '*'"), std::string::npos) << r.error();
}

// next_command() reads commands in place when they are whole; whatever the split and whatever
// the bytes, it must give what next() gives: the same arguments, the same skips, the same errors.
TEST(resp, next_command_agrees_with_next) {
  std::string big(300, 'x');
  std::vector<std::string> wires = {
      format_command({"url", "42", "[200,{},\"hi\"]"}) + format_command({"PING"}) + "PING\r\n",
      format_command({"url", "7", big}) + format_command({"ECHO", "a"}),  // over the limit: skipped
      format_command({"a", std::string(180, 'y')}),                      // exactly at the limit
      format_command({"a", std::string(181, 'y')}),                      // one byte over it
      "*0\r\n*-1\r\n" + format_command({"x"}),
      "*1\r\n$01\r\na\r\n",                                              // a leading zero
      "*1\r\n$" + std::string(40, '1') + "\r\n",                         // length line too long
      "*17\r\n",                                                         // more items than allowed
      "*1\r\n$1\r\nab\r\n",                                              // data longer than declared
      "*2\r\n$1\r\na\r\n:1\r\n",                                         // not a bulk
      "*1\r\n$-1\r\n",                                                   // nil bulk in a command
      "*1\n$1\r\na\r\n",                                                 // LF without CR
  };
  auto limits = command_limits(format_command({"a", std::string(180, 'y')}).size());
  limits.skip_oversized = true;
  for (auto& wire : wires)
    for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
      resp_reader by_value(limits), by_view(limits);
      std::vector<std::vector<std::string>> want, got;
      std::vector<bool> want_skipped, got_skipped;
      for (auto [from, to] : {std::pair<std::size_t, std::size_t>{0, cut}, {cut, wire.size()}}) {
        by_value.feed(wire.data() + from, to - from);
        by_view.feed(wire.data() + from, to - from);
        while (auto v = by_value.next()) {
          want.emplace_back();
          bool skipped = false;
          for (auto& e : v->elements) {
            want.back().push_back(e.str);
            skipped = skipped || e.type == resp_value::kind::skipped;
          }
          want_skipped.push_back(skipped);
        }
        while (auto c = by_view.next_command()) {
          got.emplace_back(c->args.begin(), c->args.end());
          got_skipped.push_back(c->skipped);
        }
      }
      EXPECT_EQ(got, want) << "wire " << &wire - wires.data() << " cut at " << cut;
      EXPECT_EQ(got_skipped, want_skipped) << "wire " << &wire - wires.data() << " cut at " << cut;
      EXPECT_EQ(by_view.error(), by_value.error()) << "wire " << &wire - wires.data() << " cut at " << cut;
    }
}

// A large command arriving in many reads (a streamed chunk) waits, whole, in the buffer: no
// command until its last byte, then its payload as one view of the bytes fed.
TEST(resp, next_command_waits_for_a_command_in_pieces) {
  std::string payload(200000, 'p');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i % 251);
  std::string wire = format_command({"chunk", "42", payload});
  resp_reader r(command_limits(1 << 20));
  for (std::size_t at = 0; at < wire.size(); at += 7000) {
    std::size_t n = std::min<std::size_t>(7000, wire.size() - at);
    r.feed(wire.data() + at, n);
    auto c = r.next_command();
    if (at + n < wire.size()) {
      ASSERT_FALSE(c) << at;
      EXPECT_EQ(r.buffered(), at + n);  // nothing consumed yet
    } else {
      ASSERT_TRUE(c);
      ASSERT_EQ(c->args.size(), 3u);
      EXPECT_EQ(c->args[2], payload);
    }
  }
  EXPECT_TRUE(r.error().empty());
  // One declared over the limit is not awaited: refused at once.
  resp_reader small(command_limits(1000));
  std::string big = "*3\r\n$5\r\nchunk\r\n$2\r\n42\r\n$5000\r\n";
  small.feed(big.data(), big.size());
  EXPECT_FALSE(small.next_command());
  EXPECT_FALSE(small.error().empty());
}
