// A worker that describes the request it got, for tests and debugging: answers 200 with
//   {"method", "url", "path", "query", "headers": {...}, "body_base64", "remote_addr",
//    "http_version", "worker_pid", "body_file"?}
// as application/json. body_base64 is the base64 of the raw body bytes, so tests can check
// that binary bodies travel intact; a body the front spooled (protocol.md 11) is named by
// "body_file": {"path", "size", "sha256"} (the file is not read). Special paths:
//   /sleep?ms=N     sleeps N ms (at most 60 s) before answering; stops early, answering
//                   "cancelled", when the request is cancelled (req.cancelled(), polled every 50 ms)
//   /status?code=N  answers with status N
//   /worker-stats   answers {"expired_jobs": N, "untrusted_jobs": N}: the worker's counters
//
// Takes the standard worker flags (--help lists them). from_args comes first: it catches SIGTERM
// and SIGINT before anything else, so a stop at any moment is a clean one.
#include <tempest/worker.hpp>

#include <boost/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "core/json_writer.hpp"  // base64_encode

namespace {

long number_param(const tempest::request& req, std::string_view name, long fallback) {
  auto text = req.query_param(name);
  if (!text) return fallback;
  try {
    return std::stol(*text);
  } catch (const std::exception&) {
    return fallback;
  }
}

const tempest::worker* the_worker = nullptr;  // for /worker-stats

void echo(const tempest::request& req, tempest::response& res) {
  if (req.path() == "/worker-stats") {
    res.set_header("Content-Type", "application/json");
    res.body = boost::json::serialize(boost::json::object{
        {"expired_jobs", the_worker->expired_jobs()}, {"untrusted_jobs", the_worker->untrusted_jobs()},
        {"dropped_answers", the_worker->dropped_answers()}});
    return;
  }
  if (req.path() == "/sleep") {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::clamp(number_param(req, "ms", 0), 0L, 60000L));
    while (std::chrono::steady_clock::now() < until) {
      if (req.cancelled()) {  // nobody waits any more: stop the long work early
        res.body = "cancelled";
        return;
      }
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(until - std::chrono::steady_clock::now(),
                                                                                std::chrono::milliseconds(50)));
    }
  }
  if (req.path() == "/status") res.status = static_cast<int>(number_param(req, "code", 200));

  boost::json::object headers;
  for (const auto& [name, value] : req.headers()) headers[name] = value;
  boost::json::object body{
      {"method", req.method()},
      {"url", req.url()},
      {"path", req.path()},
      {"query", req.query()},
      {"headers", std::move(headers)},
      {"body_base64", tempest::base64_encode(req.body())},
      {"remote_addr", req.remote_addr()},
      {"http_version", req.http_version()},
      {"worker_pid", static_cast<std::int64_t>(getpid())},
  };
  if (const auto& file = req.body_file())
    body["body_file"] = boost::json::object{{"path", file->path}, {"size", file->size}, {"sha256", file->sha256}};
  res.set_header("Content-Type", "application/json");
  res.body = boost::json::serialize(body);
}

}  // namespace

int main(int argc, char** argv) {
  auto options = tempest::worker_options::from_args(argc, argv, "Answers each request with a JSON description of it");
  tempest::worker worker(options);
  the_worker = &worker;
  worker.on_request(echo);
  return worker.run();
}
