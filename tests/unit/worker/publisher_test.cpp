// Unit tests of tempest::publisher's pure parts (src/worker/publisher.cpp): channel and event
// checks, the history script's arguments, the live-only payload, and the errors thrown before
// any I/O. Publishing into a real redis-server is tested by tests/integration/test_publish.py.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <stdexcept>
#include <string>

#include "core/history.hpp"
#include "tempest/publish.hpp"

namespace tempest {
namespace {

using namespace std::chrono_literals;

TEST(PublisherChannel, AcceptsWhatTheFrontAccepts) {
  for (const char* ok : {"news", "a", "room:42", "user@example.com", "a-b_c.d", "ABC123"})
    EXPECT_EQ(detail::check_channel(ok), nullptr) << ok;
  EXPECT_EQ(detail::check_channel(std::string(128, 'x')), nullptr);
}

TEST(PublisherChannel, RejectsOthers) {
  for (const char* bad : {"", "a b", "a,b", "/sub/news", "caf\xc3\xa9", "a*", "new\nline"})
    EXPECT_NE(detail::check_channel(bad), nullptr) << bad;
  EXPECT_NE(detail::check_channel(std::string(129, 'x')), nullptr);
}

TEST(PublisherEvent, RejectsLineBreaksAndBadUtf8) {
  EXPECT_EQ(detail::check_event(""), nullptr);
  EXPECT_EQ(detail::check_event("update"), nullptr);
  EXPECT_EQ(detail::check_event("mise \xc3\xa0 jour"), nullptr);
  EXPECT_NE(detail::check_event("a\nb"), nullptr);
  EXPECT_NE(detail::check_event("a\rb"), nullptr);
  EXPECT_NE(detail::check_event("\xff"), nullptr);
}

TEST(PublisherScriptArgs, AreTheScriptsKeysAndArgv) {
  publish_options o;
  o.history_count = 50;
  o.history_age = 90s;
  auto a = detail::history_script_args("news", "hello", "update", o);
  ASSERT_EQ(a.size(), 7u);
  EXPECT_EQ(a[0], "1");  // numkeys
  EXPECT_EQ(a[1], history::key("news"));
  EXPECT_EQ(a[1], "tempest:history:news");
  EXPECT_EQ(a[2], "news");
  EXPECT_EQ(a[3], "update");
  EXPECT_EQ(a[4], "hello");
  EXPECT_EQ(a[5], "50");
  EXPECT_EQ(a[6], "90000");
}

TEST(PublisherScriptArgs, DefaultsAreTheHistoryDefaults) {
  auto a = detail::history_script_args("c", std::string("bin\0ary", 7), "", publish_options{});
  EXPECT_EQ(a[3], "");  // no event
  EXPECT_EQ(a[4], std::string("bin\0ary", 7));
  EXPECT_EQ(a[5], std::to_string(history::default_count));
  EXPECT_EQ(a[6], std::to_string(history::default_age_ms));
}

TEST(PublisherLivePayload, IsTheOriginalFormat) {
  EXPECT_EQ(detail::live_payload("hello", ""), R"(["hello"])");
  EXPECT_EQ(detail::live_payload("hello", "update"), R"(["update","hello"])");
  EXPECT_EQ(detail::live_payload("", ""), R"([""])");
  // Quotes, backslashes, control characters and line breaks survive a JSON round trip.
  std::string tricky = "a \"b\" \\c\n\r\td\x01 \xc3\xa9";
  auto v = boost::json::parse(detail::live_payload(tricky, "ev\"t"));
  ASSERT_TRUE(v.is_array());
  EXPECT_EQ(v.as_array().at(0).as_string(), "ev\"t");
  EXPECT_EQ(v.as_array().at(1).as_string(), tricky);
}

// Bad input is refused before any connection is tried: port 1 would refuse it anyway, and the
// exception type tells usage errors (invalid_argument) from Redis trouble (runtime_error).
TEST(Publisher, BadInputThrowsInvalidArgumentBeforeConnecting) {
  publisher p("redis://127.0.0.1:1/0");
  EXPECT_THROW(p.publish("a b", "x"), std::invalid_argument);
  EXPECT_THROW(p.publish("ok", "x", "two\nlines"), std::invalid_argument);
  EXPECT_THROW(p.publish("ok", "\xff\xfe"), std::invalid_argument);
  p.set_options({.history_count = -1});
  EXPECT_THROW(p.publish("ok", "x"), std::invalid_argument);
}

TEST(Publisher, BadUrlThrowsInvalidArgument) {
  EXPECT_THROW(publisher("http://127.0.0.1:6379"), std::invalid_argument);
  EXPECT_THROW(publisher("redis://127.0.0.1:99999"), std::invalid_argument);
}

TEST(Publisher, UnreachableRedisThrowsRuntimeErrorNamingIt) {
  publisher p("redis://127.0.0.1:1/0");
  EXPECT_EQ(p.endpoint(), "redis://127.0.0.1:1/0");
  try {
    p.publish("news", "x");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("127.0.0.1:1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("refused"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace tempest
