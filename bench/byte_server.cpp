// bench/byte_server: the baseline of the stream benchmark (bench/run, "streams"): a plain
// loopback socket copy of the bytes examples/stream_worker streams through the front. Each
// connection's request head is read (up to the blank line), then
//   HTTP/1.1 200 OK, Content-Length: N, Connection: close
// and N bytes where byte i is i % 251, written in 64 KiB send()s as stream_worker's chunks are,
// then the connection is closed. N comes from the request's "bytes=N" (default 1 GiB).
//
//   byte_server PORT      serves 127.0.0.1:PORT, one connection at a time, until killed
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr std::size_t chunk = 64 * 1024;

bool send_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) return false;
    p += k;
    n -= static_cast<std::size_t>(k);
  }
  return true;
}

void serve(int fd, const std::string& block) {
  std::string head;
  char buf[4096];
  while (head.find("\r\n\r\n") == std::string::npos && head.size() < 65536) {
    ssize_t k = ::recv(fd, buf, sizeof buf, 0);
    if (k <= 0) return;
    head.append(buf, static_cast<std::size_t>(k));
  }
  std::uint64_t total = 1ull << 30;
  if (auto at = head.find("bytes="); at != std::string::npos) total = std::strtoull(head.c_str() + at + 6, nullptr, 10);
  std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                      std::to_string(total) + "\r\nConnection: close\r\n\r\n";
  if (!send_all(fd, reply.data(), reply.size())) return;
  for (std::uint64_t sent = 0; sent < total;) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, total - sent));
    if (!send_all(fd, block.data() + sent % 251, n)) return;
    sent += n;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: byte_server PORT\n");
    return 2;
  }
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[1])));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(lfd, 16) != 0) {
    std::perror("byte_server: bind/listen");
    return 1;
  }
  std::string block(chunk + 251, '\0');
  for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i % 251);
  for (;;) {
    int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    serve(fd, block);
    ::shutdown(fd, SHUT_WR);
    ::close(fd);
  }
}
