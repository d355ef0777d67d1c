#include "front/upload_spool.hpp"

#include <openssl/evp.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace tempest::front {

namespace {

constexpr std::string_view name_prefix = "upload-";
constexpr std::size_t name_digits = 32;
constexpr char hex_digits[] = "0123456789abcdef";

std::string errno_text(int e) { return std::strerror(e); }

// mkdir -p, each missing directory with mode 0700.
int make_dirs(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return 0;
  if (errno != ENOENT) return errno;
  auto slash = dir.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return ENOENT;
  if (int e = make_dirs(dir.substr(0, slash))) return e;
  return ::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST ? 0 : errno;
}

}  // namespace

bool is_spool_name(std::string_view name) {
  if (name.size() != name_prefix.size() + name_digits || name.substr(0, name_prefix.size()) != name_prefix) return false;
  for (char c : name.substr(name_prefix.size()))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

spool_file::spool_file(int fd, std::string path) : fd_(fd), path_(std::move(path)), sha_(EVP_MD_CTX_new()) {
  if (!sha_ || !EVP_DigestInit_ex(sha_, EVP_sha256(), nullptr)) error_ = ENOMEM;
}

spool_file::~spool_file() {
  ::close(fd_);
  ::unlink(path_.c_str());
  EVP_MD_CTX_free(sha_);
}

bool spool_file::check_room(std::uint64_t n) {
  if (error_) return false;
  struct statvfs fs{};
  if (::fstatvfs(fd_, &fs) != 0) return true;  // unknown: the writes will tell
  if (static_cast<unsigned __int128>(fs.f_bavail) * fs.f_frsize >= n) return true;
  error_ = ENOSPC;
  return false;
}

bool spool_file::write(const char* data, std::size_t n) {
  if (error_) return false;
  if (!EVP_DigestUpdate(sha_, data, n)) {
    error_ = ENOMEM;
    return false;
  }
  while (n > 0) {
    auto w = ::write(fd_, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      error_ = errno;
      return false;
    }
    data += w;
    n -= static_cast<std::size_t>(w);
    size_ += static_cast<std::uint64_t>(w);
  }
  return true;
}

bool spool_file::finish() {
  if (error_) return false;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!EVP_DigestFinal_ex(sha_, md, &len) || len * 2 != sizeof hex_) {
    error_ = ENOMEM;
    return false;
  }
  for (unsigned int i = 0; i < len; ++i) {
    hex_[2 * i] = hex_digits[md[i] >> 4];
    hex_[2 * i + 1] = hex_digits[md[i] & 15];
  }
  finished_ = true;
  return true;
}

upload_spool::~upload_spool() { close(); }

void upload_spool::close() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
  if (dir_fd_ >= 0) ::close(dir_fd_);
  lock_fd_ = dir_fd_ = -1;
}

bool upload_spool::prepare(const std::string& dir) {
  close();
  removed_ = 0;
  dir_ = dir;
  auto fail = [this](std::string why) {
    close();
    problem_ = "spool dir " + dir_ + ": " + why;
    return false;
  };
  if (dir.empty() || dir.front() != '/') return fail("must be an absolute path");
  if (int e = make_dirs(dir)) return fail("cannot create it: " + errno_text(e));
  dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0) return fail("cannot open it: " + errno_text(errno));
  struct stat st{};
  if (::fstat(dir_fd_, &st) != 0) return fail("cannot stat it: " + errno_text(errno));
  if (st.st_uid != ::geteuid())
    return fail("owned by uid " + std::to_string(st.st_uid) + ", not by this user (uid " + std::to_string(::geteuid()) +
                "): the front keeps request bodies only in a directory of its own");
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    return fail("others may write in it (mode " + std::to_string((st.st_mode >> 6) & 7) +
                std::to_string((st.st_mode >> 3) & 7) + std::to_string(st.st_mode & 7) + "): chmod go-w it");
  // A writable directory: this is where a read-only or full filesystem shows first.
  lock_fd_ = ::openat(dir_fd_, ".lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd_ < 0) return fail("cannot write in it: " + errno_text(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
    return fail(errno == EWOULDBLOCK ? "another running front uses it (give each front its own --spool-dir)"
                                     : "cannot lock it: " + errno_text(errno));
  if (char* real = ::realpath(dir.c_str(), nullptr)) {
    dir_ = real;
    std::free(real);
  }
  // Leftovers of an earlier run that ended without removing its files (a crash, SIGKILL).
  int list_fd = ::dup(dir_fd_);
  if (DIR* d = list_fd >= 0 ? ::fdopendir(list_fd) : nullptr) {
    while (auto* e = ::readdir(d))
      if (is_spool_name(e->d_name) && ::unlinkat(dir_fd_, e->d_name, 0) == 0) ++removed_;
    ::closedir(d);
  } else if (list_fd >= 0) {
    ::close(list_fd);
  }
  problem_.clear();
  return true;
}

std::unique_ptr<spool_file> upload_spool::create(int& err) const {
  if (dir_fd_ < 0) {
    err = EACCES;
    return nullptr;
  }
  for (int attempt = 0; attempt < 4; ++attempt) {
    unsigned char random[name_digits / 2];
    if (::getrandom(random, sizeof random, 0) != static_cast<ssize_t>(sizeof random)) {
      err = errno ? errno : EIO;
      return nullptr;
    }
    std::string name(name_prefix);
    for (unsigned char b : random) name.append({hex_digits[b >> 4], hex_digits[b & 15]});
    int fd = ::openat(dir_fd_, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) return std::make_unique<spool_file>(fd, dir_ + "/" + name);
    if (errno != EEXIST) {
      err = errno;
      return nullptr;
    }
  }
  err = EEXIST;
  return nullptr;
}

std::string upload_spool::default_dir(std::uint16_t http_port) {
  const char* tmp = std::getenv("TMPDIR");
  std::string base = tmp && *tmp == '/' ? tmp : "/tmp";
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  return base + "/tempest-spool-" + std::to_string(::geteuid()) + "-" + std::to_string(http_port);
}

}  // namespace tempest::front
