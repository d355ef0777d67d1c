// A worker that streams (docs/protocol.md 10), for tests, benchmarks and as an example:
//   GET /stream?bytes=N   streams N bytes (default 1 MiB) where byte i is i % 251, in 64 KiB
//                         chunks, as application/octet-stream with chunked framing
//                         (&length=1: with a Content-Length header instead; &fail_at=K:
//                         the handler throws after K bytes, so the library aborts the stream)
//   POST /upload          answers the lower-case hex SHA-256 of the request body, read from the
//                         job or, for a body the front spooled (protocol.md 11), from its file
//   GET /hang             a hanging GET: the head goes, the stream is kept open (keep())
//   POST /push?data=TEXT  one chunk TEXT to every hanging GET in one mchunk per front
//                         (tempest::fanout); &end=1 ends them too. Answers "<reached> <gone>"
//   anything else         404
// A client that leaves mid-stream makes the next write fail: the handler stops there and the
// log says why (at debug). Takes the standard worker flags (--help lists them).
#include <tempest/worker.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>
#include <mutex>
#include <vector>
#include <string>

namespace {

constexpr std::size_t chunk_size = 64 * 1024;

std::uint64_t bytes_param(const tempest::request& req) {
  auto text = req.query_param("bytes");
  if (!text) return 1 << 20;
  try {
    return std::stoull(*text);
  } catch (const std::exception&) {
    return 0;
  }
}

void stream_bytes(const tempest::request& req, tempest::response& res) {
  std::uint64_t total = bytes_param(req);
  res.set_header("Content-Type", "application/octet-stream");
  if (req.query_param("length") == "1") res.set_header("Content-Length", std::to_string(total));
  auto& out = res.stream();
  // 64 KiB of the pattern from offset 0; every chunk starts where the previous one ended.
  std::string block(chunk_size + 251, '\0');
  for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i % 251);
  auto fail_at = req.query_param("fail_at");
  std::uint64_t limit = fail_at ? std::stoull(*fail_at) : total;
  for (std::uint64_t sent = 0; sent < total && out.ok();) {
    if (sent >= limit) throw std::runtime_error("fail_at reached (a test of a failing handler)");
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>({chunk_size, total - sent, limit - sent}));
    out.write(std::string_view(block).substr(sent % 251, n));
    sent += n;
  }
  // The handler's return ends the stream (when it is still ok).
}

// The lower-case hex SHA-256 of a body: inline, or in the front's spool file, read in 64 KiB
// blocks (never whole in memory).
std::string sha256_hex(const tempest::request& req) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || !EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr)) throw std::runtime_error("SHA-256 failed");
  if (const auto& file = req.body_file()) {
    std::unique_ptr<std::FILE, decltype(&std::fclose)> f(std::fopen(std::string(file->path).c_str(), "rb"), std::fclose);
    if (!f) throw std::runtime_error("cannot open the spooled body " + std::string(file->path));
    std::string block(chunk_size, '\0');
    while (auto n = std::fread(block.data(), 1, block.size(), f.get())) EVP_DigestUpdate(ctx.get(), block.data(), n);
    if (std::ferror(f.get())) throw std::runtime_error("cannot read the spooled body " + std::string(file->path));
  } else {
    EVP_DigestUpdate(ctx.get(), req.body().data(), req.body().size());
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (!EVP_DigestFinal_ex(ctx.get(), md.data(), &len)) throw std::runtime_error("SHA-256 failed");
  std::string hex;
  char digits[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(digits, sizeof digits, "%02x", md[i]);
    hex += digits;
  }
  return hex;
}

// The kept streams of GET /hang, shared by the worker's threads (--concurrency).
struct hanging_gets {
  std::mutex m;
  std::vector<tempest::stream_ref> refs;
  std::unique_ptr<tempest::fanout> out;  // made with the worker's answer password
};
hanging_gets hanging;

void hang(tempest::response& res) {
  res.set_header("Content-Type", "text/plain");
  auto ref = res.stream().keep();
  if (ref.respond_to.empty()) return;  // the client left already
  std::lock_guard lock(hanging.m);
  hanging.refs.push_back(std::move(ref));
}

void push(const tempest::request& req, tempest::response& res) {
  std::string data = req.query_param("data").value_or("");
  std::lock_guard lock(hanging.m);
  auto gone = hanging.out->chunk(hanging.refs, data);
  if (req.query_param("end") == "1") {
    auto more = hanging.out->end(hanging.refs);
    gone.insert(gone.end(), more.begin(), more.end());
  }
  std::erase_if(hanging.refs, [&](const auto& r) { return std::find(gone.begin(), gone.end(), r) != gone.end(); });
  std::size_t reached = hanging.refs.size();
  if (req.query_param("end") == "1") hanging.refs.clear();
  res.body = std::to_string(reached) + " " + std::to_string(gone.size()) + "\n";
}

void handle(const tempest::request& req, tempest::response& res) {
  if (req.path() == "/hang" && req.method() == "GET") return hang(res);
  if (req.path() == "/push" && req.method() == "POST") return push(req, res);
  if (req.path() == "/stream" && (req.method() == "GET" || req.method() == "HEAD")) return stream_bytes(req, res);
  res.set_header("Content-Type", "text/plain");
  if (req.path() == "/upload" && req.method() == "POST") {
    res.body = sha256_hex(req) + "\n";
    return;
  }
  res.status = 404;
  res.body = "not found: GET /stream?bytes=N, POST /upload, GET /hang, POST /push?data=TEXT\n";
}

}  // namespace

int main(int argc, char** argv) {
  auto options = tempest::worker_options::from_args(
      argc, argv, "Streams GET /stream?bytes=N (byte i is i % 251) and answers POST /upload with the body's SHA-256");
  hanging.out = std::make_unique<tempest::fanout>(options.answer_password);
  tempest::worker w(options);
  w.on_request(handle);
  return w.run();
}
