// The spool directory and its files (src/front/upload_spool.hpp), on a real temporary
// directory; and the job a spooled request becomes.
#include "front/job_encode.hpp"
#include "front/upload_spool.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <openssl/sha.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace tempest::front;

namespace {

struct temp_dir {
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "spool-test-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~temp_dir() { fs::remove_all(path); }
  fs::path path;
};

std::string read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

TEST(upload_spool, names) {
  EXPECT_TRUE(is_spool_name("upload-0123456789abcdef0123456789abcdef"));
  EXPECT_FALSE(is_spool_name("upload-0123456789abcdef0123456789abcde"));    // short
  EXPECT_FALSE(is_spool_name("upload-0123456789ABCDEF0123456789abcdef"));   // upper case
  EXPECT_FALSE(is_spool_name("upload-0123456789abcdef0123456789abcdef0"));  // long
  EXPECT_FALSE(is_spool_name(".lock"));
}

TEST(upload_spool, a_file_is_private_hashed_as_written_and_removed_with_its_owner) {
  temp_dir t;
  upload_spool spool;
  ASSERT_TRUE(spool.prepare((t.path / "a" / "b").string())) << spool.problem();  // parents created
  struct stat st{};
  ASSERT_EQ(::stat(spool.dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  int err = 0;
  auto f = spool.create(err);
  ASSERT_TRUE(f) << err;
  std::string path = f->path();
  EXPECT_TRUE(is_spool_name(fs::path(path).filename().string()));
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(f->check_room(1024));
  EXPECT_FALSE(f->check_room(std::uint64_t{1} << 62));
  EXPECT_EQ(f->error(), ENOSPC);
}

TEST(upload_spool, content_size_and_sha256) {
  temp_dir t;
  upload_spool spool;
  ASSERT_TRUE(spool.prepare(t.path.string()));
  int err = 0;
  auto f = spool.create(err);
  ASSERT_TRUE(f);
  std::string data;
  for (int i = 0; i < 100000; ++i) data.push_back(static_cast<char>(i * 7));
  ASSERT_TRUE(f->write(data.data(), 1000));
  ASSERT_TRUE(f->write(data.data() + 1000, data.size() - 1000));
  EXPECT_EQ(f->sha256(), "");  // not before finish()
  ASSERT_TRUE(f->finish());
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  char hex[65];
  for (int i = 0; i < SHA256_DIGEST_LENGTH; ++i) std::snprintf(hex + 2 * i, 3, "%02x", md[i]);
  EXPECT_EQ(f->sha256(), std::string_view(hex, 64));
  EXPECT_EQ(f->size(), data.size());
  std::string path = f->path();
  EXPECT_EQ(read_file(path), data);
  f.reset();
  EXPECT_FALSE(fs::exists(path));
}

TEST(upload_spool, leftovers_go_other_files_stay_and_a_second_front_is_refused) {
  temp_dir t;
  std::ofstream(t.path / "upload-00000000000000000000000000000000") << "old";
  std::ofstream(t.path / "keep.txt") << "mine";
  ::chmod(t.path.c_str(), 0700);
  upload_spool first;
  ASSERT_TRUE(first.prepare(t.path.string())) << first.problem();
  EXPECT_EQ(first.leftovers_removed(), 1u);
  EXPECT_TRUE(fs::exists(t.path / "keep.txt"));
  upload_spool second;
  EXPECT_FALSE(second.prepare(t.path.string()));
  EXPECT_NE(second.problem().find("another running front uses it"), std::string::npos) << second.problem();
  int err = 0;
  EXPECT_FALSE(second.create(err));
  EXPECT_EQ(err, EACCES);
}

TEST(upload_spool, refuses_a_dir_others_may_write_and_a_relative_path) {
  temp_dir t;
  ::chmod(t.path.c_str(), 0777);
  upload_spool spool;
  EXPECT_FALSE(spool.prepare(t.path.string()));
  EXPECT_NE(spool.problem().find("others may write in it (mode 777)"), std::string::npos) << spool.problem();
  EXPECT_FALSE(spool.prepare("relative/spool"));
  EXPECT_NE(spool.problem().find("absolute"), std::string::npos);
}

TEST(upload_spool, the_job_names_the_file_instead_of_the_body) {
  temp_dir t;
  upload_spool spool;
  ASSERT_TRUE(spool.prepare(t.path.string()));
  http_request req{boost::beast::http::verb::post, "/up", 11};
  req.set(boost::beast::http::field::host, "h");
  req.set(boost::beast::http::field::content_length, "5");
  req.body().spool = &spool;
  ASSERT_TRUE(req.body().spill());
  ASSERT_TRUE(req.body().file->write("hello", 5));
  ASSERT_TRUE(req.body().file->finish());
  std::string scratch, out;
  target_parts target;
  ASSERT_EQ(parse_target(req.target(), scratch, target), target_error::none);
  encode_job(out, req, target, "127.0.0.1:5", "127.0.0.1:7", 9);
  auto o = boost::json::parse(out).as_array()[1].as_array()[0].as_object();
  EXPECT_FALSE(o.contains("body"));
  auto& f = o.at("body_file").as_object();
  EXPECT_EQ(f.at("path").as_string(), req.body().file->path());
  EXPECT_EQ(f.at("size").as_int64(), 5);
  EXPECT_EQ(f.at("sha256").as_string(), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
}
