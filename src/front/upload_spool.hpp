// Request bodies the front writes to disk instead of memory (docs/protocol.md 11): the spool
// directory, one per front, and the files in it.
//
//   upload_spool spool;                  // one per front, shared by its threads
//   spool.prepare("/var/lib/tempest/spool");   // at start-up: checks, locks, removes leftovers
//   auto f = spool.create(err);          // per request: a new file, or nullptr and errno
//   f->write(bytes, n); f->finish();     // the SHA-256 is computed as the bytes pass
//   // the job names f->path(); the file is removed when f is destroyed
//
// Files are created with O_EXCL and mode 0600, named "upload-" + 32 random hex digits (never a
// name from the client), in a directory that this user owns and that nobody else may write. A
// front holds an exclusive lock on the directory (".lock") for its lifetime, so that removing
// the leftovers of an earlier run at start-up never touches another running front's files.
//
// Writes are synchronous: the event-loop thread writes each received block into the page cache
// (a few microseconds for 64 KiB). A disk that throttles dirty pages stalls that thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace tempest::front {

class spool_file {
 public:
  spool_file(int fd, std::string path);
  ~spool_file();  // closes and removes the file
  spool_file(const spool_file&) = delete;
  spool_file& operator=(const spool_file&) = delete;

  // Whether the filesystem has room for n more bytes (a declared length), so that a full disk
  // shows before the body is read; false with ENOSPC in error(). Space is not reserved
  // (fallocate'd blocks made writes 6x slower on ext4): a later write can still fail.
  bool check_room(std::uint64_t n);
  // Appends bytes; false with errno in error() (ENOSPC, EFBIG, EIO ...).
  bool write(const char* data, std::size_t n);
  // After the last write: computes the digest.
  bool finish();

  const std::string& path() const noexcept { return path_; }
  std::uint64_t size() const noexcept { return size_; }
  std::string_view sha256() const noexcept { return {hex_, finished_ ? sizeof hex_ : 0}; }  // lower-case hex
  int error() const noexcept { return error_; }

 private:
  int fd_;
  std::string path_;
  std::uint64_t size_ = 0;
  evp_md_ctx_st* sha_ = nullptr;
  int error_ = 0;
  bool finished_ = false;
  char hex_[64] = {};
};

class upload_spool {
 public:
  upload_spool() = default;
  ~upload_spool();
  upload_spool(const upload_spool&) = delete;
  upload_spool& operator=(const upload_spool&) = delete;

  // Makes `dir` the spool (created with mode 0700 when missing). On failure ok() is false and
  // problem() says why; create() then fails with EACCES. Returns ok(). Not thread-safe: call it
  // before the threads that create files start.
  bool prepare(const std::string& dir);
  bool ok() const noexcept { return dir_fd_ >= 0; }
  const std::string& problem() const noexcept { return problem_; }
  const std::string& dir() const noexcept { return dir_; }        // absolute
  std::size_t leftovers_removed() const noexcept { return removed_; }

  // A new, empty file; nullptr with errno in `err` when it cannot be created. Thread-safe.
  std::unique_ptr<spool_file> create(int& err) const;

  // The default directory: $TMPDIR (or /tmp) + "/tempest-spool-<uid>-<port>".
  static std::string default_dir(std::uint16_t http_port);

 private:
  void close();
  std::string dir_;
  std::string problem_ = "not prepared";
  int dir_fd_ = -1;
  int lock_fd_ = -1;
  std::size_t removed_ = 0;
};

// True for the names create() gives ("upload-" and 32 lower-case hex digits).
bool is_spool_name(std::string_view name);

}  // namespace tempest::front
