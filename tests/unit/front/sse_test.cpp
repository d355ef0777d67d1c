// Unit tests for the pure parts of Server-Sent Events: payload decoding, event blocks,
// stream id order, channel lists, cursors, history pages (src/front/sse_event.cpp,
// sse_session.cpp, sse_replay.cpp).
#include "core/resp.hpp"
#include "front/sse_event.hpp"
#include "front/sse_replay.hpp"
#include "front/sse_session.hpp"

#include <gtest/gtest.h>

using namespace tempest::front;

TEST(sse_event, decodes_the_original_formats) {
  auto a = decode_sse_message(R"(["Bob"])");
  EXPECT_EQ(a.data, "Bob");
  EXPECT_TRUE(a.event.empty());
  EXPECT_FALSE(a.end);
  auto b = decode_sse_message(R"(["greeting", "hi"])");
  EXPECT_EQ(b.event, "greeting");
  EXPECT_EQ(b.data, "hi");
  EXPECT_TRUE(decode_sse_message(R"(["$unsubscribe"])").end);
  auto c = decode_sse_message(R"([null, "x", "17-0"])");
  EXPECT_EQ(c.data, "x");
  EXPECT_EQ(c.id, "17-0");
  EXPECT_TRUE(c.event.empty());
  EXPECT_EQ(decode_sse_message(R"(["n", "x", "17-1"])").event, "n");
  EXPECT_EQ(decode_sse_message(R"([{"a":1}])").data, R"({"a":1})");
}

TEST(sse_event, other_payloads_are_plain_data) {
  for (const char* p : {"plain text", "[1,2,3,4]", "[]", "[unclosed", "{\"a\":1}", "42"})
    EXPECT_EQ(decode_sse_message(p).data, p) << p;
}

TEST(sse_event, blocks_split_lines_and_strip_breaks_from_fields) {
  std::string out;
  append_sse_event(out, "c=1-0", "na\nme", "one\r\ntwo\rthree\nfour");
  EXPECT_EQ(out, "id: c=1-0\nevent: name\ndata: one\ndata: two\ndata: three\ndata: four\n\n");
  out.clear();
  append_sse_event(out, "", "", "");
  EXPECT_EQ(out, "data: \n\n");
  out.clear();
  append_sse_event(out, "", "", "x\n");
  EXPECT_EQ(out, "data: x\ndata: \n\n");
  out.clear();
  append_sse_id(out, "a=0");
  EXPECT_EQ(out, "id: a=0\n\n");
}

TEST(sse_event, stream_id_order) {
  EXPECT_TRUE(stream_id_less("0", "1-0"));
  EXPECT_TRUE(stream_id_less("", "0-1"));
  EXPECT_TRUE(stream_id_less("1-1", "1-2"));
  EXPECT_TRUE(stream_id_less("9-9", "10-0"));
  EXPECT_FALSE(stream_id_less("10-0", "9-9"));
  EXPECT_FALSE(stream_id_less("5-5", "5-5"));
}

TEST(sse_session, channel_lists) {
  std::vector<std::string> out;
  EXPECT_TRUE(split_channels("news", out));
  EXPECT_EQ(out, std::vector<std::string>{"news"});
  EXPECT_TRUE(split_channels("a,b:1,user@x,a", out));
  EXPECT_EQ(out, (std::vector<std::string>{"a", "b:1", "user@x"}));
  EXPECT_FALSE(split_channels("", out));
  EXPECT_FALSE(split_channels("a,,b", out));
  EXPECT_FALSE(split_channels("a b", out));
  EXPECT_FALSE(split_channels("a/b", out));
  EXPECT_FALSE(split_channels(std::string(129, 'x'), out));
  std::string many;
  for (int i = 0; i < 17; ++i) many += (i ? "," : "") + std::to_string(i);
  EXPECT_FALSE(split_channels(many, out));
}

TEST(sse_session, cursors) {
  auto c = parse_cursor("a=1-0,b=0,bad,c=x,=5,d:1=7-3");
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0], (std::pair<std::string, std::string>{"a", "1-0"}));
  EXPECT_EQ(c[1], (std::pair<std::string, std::string>{"b", "0"}));
  EXPECT_EQ(c[2], (std::pair<std::string, std::string>{"d:1", "7-3"}));
  EXPECT_EQ(percent_decode("a%3D1-0%2Cb%3d0"), "a=1-0,b=0");
  EXPECT_EQ(percent_decode("100%"), "100%");
}

namespace {

// An XRANGE reply: [[id, [field, value, ...]], ...].
tempest::resp_value xrange_reply(std::vector<std::vector<std::string>> entries) {
  using tempest::resp_value;
  auto str = [](std::string v) {
    resp_value r;
    r.type = resp_value::kind::string;
    r.str = std::move(v);
    return r;
  };
  resp_value reply;
  reply.type = resp_value::kind::array;
  for (auto& e : entries) {
    resp_value entry, fields;
    entry.type = fields.type = resp_value::kind::array;
    for (std::size_t i = 1; i < e.size(); ++i) fields.elements.push_back(str(e[i]));
    entry.elements.push_back(str(e[0]));
    entry.elements.push_back(std::move(fields));
    reply.elements.push_back(std::move(entry));
  }
  return reply;
}

}  // namespace

TEST(sse_replay, history_pages_start_at_the_cursor) {
  // From the oldest entry: COUNT is the page; from a cursor: one more, for the cursor's entry.
  EXPECT_EQ(history_range_command("c", "0", 10),
            tempest::format_command({"XRANGE", "tempest:history:c", "-", "+", "COUNT", "10"}));
  EXPECT_EQ(history_range_command("c", "", 1),
            tempest::format_command({"XRANGE", "tempest:history:c", "-", "+", "COUNT", "1"}));
  EXPECT_EQ(history_range_command("c", "5-1", 10),
            tempest::format_command({"XRANGE", "tempest:history:c", "5-1", "+", "COUNT", "11"}));
}

TEST(sse_replay, a_page_skips_the_cursor_entry_and_reports_it_missing) {
  auto reply = xrange_reply({{"5-1", "e", "", "d", "seen"}, {"6-0", "e", "n", "d", "x"}, {"7-0", "d", "y"}});
  auto page = read_history(std::move(reply), "5-1");
  EXPECT_FALSE(page.gap);
  ASSERT_EQ(page.messages.size(), 2u);
  EXPECT_EQ(page.messages[0].id, "6-0");
  EXPECT_EQ(page.messages[0].event, "n");
  EXPECT_EQ(page.messages[0].data, "x");
  EXPECT_EQ(page.messages[1].id, "7-0");
  EXPECT_EQ(page.messages[1].event, "");
  EXPECT_EQ(page.messages[1].data, "y");
  // The cursor's entry was trimmed: what follows is there, but something may be missing.
  page = read_history(xrange_reply({{"6-0", "e", "", "d", "x"}}), "5-1");
  EXPECT_TRUE(page.gap);
  EXPECT_EQ(page.messages.size(), 1u);
  page = read_history(xrange_reply({}), "5-1");
  EXPECT_TRUE(page.gap);
  // From the oldest entry there is nothing to miss; malformed entries are skipped.
  auto odd = xrange_reply({{"1-0", "d", "a"}});
  odd.elements.push_back(tempest::resp_value{});
  page = read_history(std::move(odd), "0");
  EXPECT_FALSE(page.gap);
  ASSERT_EQ(page.messages.size(), 1u);
  EXPECT_EQ(page.messages[0].data, "a");
}
