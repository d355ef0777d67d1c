// Unit tests of the embedded Lua scripts (src/core/queue/scripts.hpp): each is its .lua file
// exactly, documents its KEYS and ARGV, and names no key of its own (every key comes in KEYS,
// as Redis Cluster requires). What they do runs against a real redis-server in
// tests/integration/test_reliable.py, test_cancel.py and test_publish.py.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "core/queue/scripts.hpp"

namespace tempest::queue {
namespace {

struct named {
  std::string_view name;
  std::string_view source;
};

const named all[] = {{"take", scripts::take_source},   {"goodbye", scripts::goodbye_source},
                     {"reap", scripts::reap_source},   {"retry", scripts::retry_source},
                     {"history", scripts::history_source}};

TEST(QueueScripts, EmbeddedTextIsTheFile) {
  for (const auto& s : all) {
    std::ifstream f(std::string(TEMPEST_SOURCE_DIR) + "/src/core/queue/scripts/" + std::string(s.name) + ".lua",
                    std::ios::binary);
    ASSERT_TRUE(f) << s.name;
    std::ostringstream text;
    text << f.rdbuf();
    EXPECT_EQ(text.str(), s.source) << s.name;
  }
}

TEST(QueueScripts, EachStartsWithItsNameAndDocumentsKeysAndArgv) {
  for (const auto& s : all) {
    EXPECT_TRUE(s.source.starts_with("-- " + std::string(s.name) + ":")) << s.name;
    EXPECT_NE(s.source.find("-- KEYS"), std::string_view::npos) << s.name;
    EXPECT_NE(s.source.find("-- ARGV"), std::string_view::npos) << s.name;
  }
}

// A key literal ('tempest:...') or a key built from a name (x .. ':dead') in a script's code
// would be a key Redis Cluster was not told of. Comments may name keys.
TEST(QueueScripts, NameNoKeyOfTheirOwn) {
  for (const auto& s : all) {
    std::istringstream lines{std::string(s.source)};
    for (std::string line; std::getline(lines, line);) {
      auto code = line.substr(0, line.find("--"));
      EXPECT_EQ(code.find("'tempest:"), std::string::npos) << s.name << ": " << line;
      EXPECT_EQ(code.find(".. ':"), std::string::npos) << s.name << ": " << line;
    }
  }
}

TEST(QueueScripts, ScriptObjectsStartWithoutASha) {
  auto r = scripts::reap();
  EXPECT_EQ(r.name, "reap");
  EXPECT_EQ(r.source, scripts::reap_source);
  EXPECT_TRUE(r.sha.empty());
}

}  // namespace
}  // namespace tempest::queue
