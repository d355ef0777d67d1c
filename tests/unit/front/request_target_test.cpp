// Unit tests for src/front/request_target: splitting a target into path and query, and
// normalising the path (RFC 3986 6.2.2, repeated slashes collapsed, hostile paths refused).
#include "front/request_target.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <string>
#include <utility>

using namespace tempest::front;

namespace {

// The normalised path of target, or "!" + the error's number when it is refused.
std::string path_of(std::string_view target) {
  std::string scratch;
  target_parts t;
  auto e = parse_target(target, scratch, t);
  if (e != target_error::none) return "!" + std::to_string(static_cast<int>(e));
  return std::string(t.path);
}

std::string refused(target_error e) { return "!" + std::to_string(static_cast<int>(e)); }

}  // namespace

TEST(request_target, splits_every_form) {
  std::string scratch;
  target_parts t;
  auto query = [&](std::string_view target) {
    EXPECT_EQ(parse_target(target, scratch, t), target_error::none);
    return std::string(t.query);
  };
  EXPECT_EQ(path_of("/p/q?x=1"), "/p/q");
  EXPECT_EQ(query("/p/q?x=1"), "x=1");
  EXPECT_EQ(path_of("http://x/pay"), "/pay");
  EXPECT_EQ(path_of("HTTPS://u@x:8443/pay/sub?a=b"), "/pay/sub");
  EXPECT_EQ(query("https://x/pay?a=b"), "a=b");
  EXPECT_EQ(path_of("http://x"), "/");
  EXPECT_EQ(path_of("http://x?a=1"), "/");
  EXPECT_EQ(query("http://x?a=1"), "a=1");
  EXPECT_EQ(path_of("/a://b/c"), "/a:/b/c");  // a path, not a scheme: its "//" collapses
  EXPECT_EQ(path_of("*"), "*");
  EXPECT_EQ(path_of("host:443"), "host:443");
  EXPECT_EQ(query("/p"), "");
  EXPECT_EQ(query("/p?"), "");
  EXPECT_EQ(query("/p?a?b"), "a?b");
}

TEST(request_target, normal_paths_are_views_of_the_target) {
  for (std::string_view target : {"/", "/pay", "/a/b/c/", "/a.b/..c/c../...", "/caf%C3%A9", "/x?a=%2F&b=/../..",
                                  "/~u/-_./", "/a:b@c!$&'()*+,;="}) {
    std::string scratch;
    target_parts t;
    ASSERT_EQ(parse_target(target, scratch, t), target_error::none) << target;
    EXPECT_EQ(t.path.data(), target.data()) << target;  // no copy
    EXPECT_EQ(t.path, target.substr(0, target.find('?'))) << target;
    EXPECT_TRUE(scratch.empty()) << target;
  }
  // An absolute-form path that is normal is a view too (of what follows the authority).
  std::string_view abs = "http://h/a/b";
  std::string scratch;
  target_parts t;
  ASSERT_EQ(parse_target(abs, scratch, t), target_error::none);
  EXPECT_EQ(t.path.data(), abs.data() + 8);
}

TEST(request_target, percent_escapes_of_unreserved_characters_are_decoded) {
  EXPECT_EQ(path_of("/%70ay"), "/pay");
  EXPECT_EQ(path_of("/%70%61%79"), "/pay");
  EXPECT_EQ(path_of("/%50AY"), "/PAY");  // case of the path itself is kept
  EXPECT_EQ(path_of("/%7e%2D%5f%2e%30%39"), "/~-_.09");
  EXPECT_EQ(path_of("/a%41%5A%61%7Az"), "/aAZazz");
  EXPECT_EQ(path_of("http://x/%70ay?%70=1"), "/pay");
}

TEST(request_target, other_escapes_are_kept_with_upper_case_hex) {
  EXPECT_EQ(path_of("/caf%c3%a9"), "/caf%C3%A9");
  EXPECT_EQ(path_of("/a%3ab%3Bc%40"), "/a%3Ab%3Bc%40");
  EXPECT_EQ(path_of("/%25"), "/%25");          // an escaped '%' stays escaped: no double decoding
  EXPECT_EQ(path_of("/%2570ay"), "/%2570ay");  // not "/pay"
  EXPECT_EQ(path_of("/%20x"), "/%20x");
  EXPECT_EQ(path_of("/%ff%Fe"), "/%FF%FE");
  EXPECT_EQ(path_of("/%3F"), "/%3F");  // an escaped '?' is data, not the query
}

TEST(request_target, dot_segments_are_removed) {
  EXPECT_EQ(path_of("/./pay"), "/pay");
  EXPECT_EQ(path_of("/x/../pay"), "/pay");
  EXPECT_EQ(path_of("/a/b/c/./../../g"), "/a/g");  // RFC 3986 5.2.4's example
  EXPECT_EQ(path_of("/mid/content=5/../6"), "/mid/6");
  EXPECT_EQ(path_of("/a/."), "/a/");
  EXPECT_EQ(path_of("/a/.."), "/");
  EXPECT_EQ(path_of("/a/b/.."), "/a/");
  EXPECT_EQ(path_of("/."), "/");
  EXPECT_EQ(path_of("/./"), "/");
  EXPECT_EQ(path_of("/a/./"), "/a/");
  EXPECT_EQ(path_of("/a/../"), "/");
  EXPECT_EQ(path_of("/a/%2e/pay"), "/a/pay");  // decoded first, then removed
  EXPECT_EQ(path_of("/a/%2E%2e/pay"), "/pay");
  EXPECT_EQ(path_of("/a/.%2e/pay"), "/pay");
  EXPECT_EQ(path_of("/a/.../pay"), "/a/.../pay");  // not a dot segment
  EXPECT_EQ(path_of("/a/..b/.c/c./pay"), "/a/..b/.c/c./pay");
  EXPECT_EQ(path_of("http://x/a/../pay?q"), "/pay");
}

TEST(request_target, repeated_slashes_are_collapsed) {
  EXPECT_EQ(path_of("//pay"), "/pay");
  EXPECT_EQ(path_of("///pay//x///"), "/pay/x/");
  EXPECT_EQ(path_of("//"), "/");
  EXPECT_EQ(path_of("/a//../b"), "/b");  // collapsed before dot removal, as nginx does
  EXPECT_EQ(path_of("/a/.//./b"), "/a/b");
  EXPECT_EQ(path_of("http://x//pay"), "/pay");
  EXPECT_EQ(path_of("//pay?x=//y"), "/pay");
}

TEST(request_target, hostile_paths_are_refused) {
  const std::pair<const char*, target_error> cases[] = {
      {"/..", target_error::climbs_above_root},
      {"/../pay", target_error::climbs_above_root},
      {"/a/../../pay", target_error::climbs_above_root},
      {"/%2e%2e/pay", target_error::climbs_above_root},
      {"/a/./.././../pay", target_error::climbs_above_root},
      {"//../pay", target_error::climbs_above_root},
      {"http://x/../pay", target_error::climbs_above_root},
      {"/pay%00", target_error::nul},
      {"/pay%00.html", target_error::nul},
      {"/pay%2Fadmin", target_error::encoded_slash},
      {"/pay%2fadmin", target_error::encoded_slash},
      {"/a%2F..%2Fpay", target_error::encoded_slash},
      {"/%", target_error::bad_escape},
      {"/%7", target_error::bad_escape},
      {"/a%7?x", target_error::bad_escape},
      {"/%zz", target_error::bad_escape},
      {"/%g0", target_error::bad_escape},
      {"/%0g", target_error::bad_escape},
      {"/%%370ay", target_error::bad_escape},
      {"/pay#x", target_error::bad_char},
      {"/pay/admin#/../../x", target_error::bad_char},
      {"/x\\..\\pay", target_error::bad_char},
      {"/\\pay", target_error::bad_char},
  };
  for (auto& [target, e] : cases) EXPECT_EQ(path_of(target), refused(e)) << target;
  for (auto e : {target_error::climbs_above_root, target_error::nul, target_error::encoded_slash,
                 target_error::bad_escape, target_error::bad_char})
    EXPECT_FALSE(describe(e).empty());
  // The query is not the path's business: escapes there pass as they are.
  EXPECT_EQ(path_of("/p?%00%2F%zz/../#"), "/p");
}

TEST(request_target, obs_text_bytes_pass_through) {
  EXPECT_EQ(path_of("/caf\xc3\xa9"), "/caf\xc3\xa9");
  EXPECT_EQ(path_of("/\xff/./x"), "/\xff/x");
}

TEST(request_target, scratch_is_reused_and_the_output_never_grows) {
  std::string scratch;
  target_parts t;
  ASSERT_EQ(parse_target("/a/./b/./c/./d", scratch, t), target_error::none);
  EXPECT_EQ(t.path, "/a/b/c/d");
  EXPECT_EQ(t.path.data(), scratch.data());
  auto capacity = scratch.capacity();
  ASSERT_EQ(parse_target("//x", scratch, t), target_error::none);
  EXPECT_EQ(t.path, "/x");
  EXPECT_EQ(scratch.capacity(), capacity);  // no new allocation for a shorter path
  // Long hostile input: bounded by the input's size, refused or normalised in one pass.
  std::string deep;
  for (int i = 0; i < 10000; ++i) deep += "/a";
  for (int i = 0; i < 10000; ++i) deep += "/..";
  ASSERT_EQ(parse_target(deep, scratch, t), target_error::none);
  EXPECT_EQ(t.path, "/");
  EXPECT_EQ(parse_target(deep + "/..", scratch, t), target_error::climbs_above_root);
  std::string slashes(100000, '/');
  ASSERT_EQ(parse_target(slashes + "pay", scratch, t), target_error::none);
  EXPECT_EQ(t.path, "/pay");
}

TEST(request_target, normalising_is_idempotent) {
  for (std::string_view target : {"/a/./b/../c//%70%c3%a9/", "//x/%2e%2E/y/.", "/%7e%41/%3a/", "http://h//a/../b/c/.."}) {
    std::string once = path_of(target);
    ASSERT_NE(once.front(), '!') << target;
    EXPECT_EQ(path_of(once), once) << target;
    std::string scratch;
    target_parts t;
    ASSERT_EQ(parse_target(once, scratch, t), target_error::none);
    EXPECT_TRUE(scratch.empty()) << once;  // an already normal path takes the fast path
  }
}

// Random paths over the characters that matter (a fixed seed, so a failure repeats): every
// accepted path comes out in normal form, no longer than it went in, and normalising it again
// changes nothing and copies nothing.
TEST(request_target, random_paths_come_out_normal) {
  static constexpr char alphabet[] = "/./..a%2eEfF07A#\\";
  std::uint32_t state = 12345;
  auto next = [&state] { return state = state * 1664525u + 1013904223u; };
  int accepted = 0, refused_count = 0;
  for (int round = 0; round < 50000; ++round) {
    std::string in = "/";
    for (auto n = next() % 24; n > 0; --n) in += alphabet[(next() >> 8) % (sizeof alphabet - 1)];
    std::string scratch;
    target_parts t;
    if (parse_target(in, scratch, t) != target_error::none) {
      ++refused_count;
      continue;
    }
    ++accepted;
    std::string out(t.path);
    ASSERT_FALSE(out.empty()) << in;
    EXPECT_EQ(out.front(), '/') << in;
    EXPECT_LE(out.size(), in.size()) << in;
    std::string padded = out.back() == '/' ? out : out + "/";  // so a last "." or ".." is seen
    for (const char* odd : {"//", "/./", "/../"}) EXPECT_EQ(padded.find(odd), std::string::npos) << in << " -> " << out;
    for (std::size_t i = out.find('%'); i != std::string::npos; i = out.find('%', i + 1)) {
      ASSERT_LT(i + 2, out.size()) << out;
      auto byte = std::stoi(out.substr(i + 1, 2), nullptr, 16);
      EXPECT_TRUE(std::isxdigit(static_cast<unsigned char>(out[i + 1])) && !std::islower(out[i + 1]) &&
                  !std::islower(out[i + 2]))
          << out;
      EXPECT_FALSE(std::isalnum(byte) || byte == '-' || byte == '.' || byte == '_' || byte == '~' || byte == 0 ||
                   byte == '/')
          << out;
    }
    std::string scratch2;
    target_parts again;
    ASSERT_EQ(parse_target(out, scratch2, again), target_error::none) << out;
    EXPECT_EQ(again.path, out);
    EXPECT_EQ(again.path.data(), out.data()) << out;  // the fast path: a view, no copy
  }
  EXPECT_GT(accepted, 1000);
  EXPECT_GT(refused_count, 1000);
}
