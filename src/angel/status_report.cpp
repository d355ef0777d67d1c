// Reading the angels' state and the queues for `tempest status` (API and document shapes:
// status_report.hpp; key names: core/queue/keys.hpp).
#include "angel/status_report.hpp"

#include "core/queue/entry.hpp"
#include "core/queue/keys.hpp"

#include <boost/json/parse.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace tempest::angel {
namespace {

// Every key matching pattern (SCAN, so a big keyspace is not blocked).
std::vector<std::string> scan(redis::blocking_client& redis, const std::string& pattern) {
  std::vector<std::string> keys;
  std::string cursor = "0";
  do {
    auto r = redis.command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
      throw std::runtime_error("SCAN failed: " + std::string(r->type == REDIS_REPLY_ERROR ? redis::text(r.get()) : ""));
    cursor = redis::text(r->element[0]);
    for (std::size_t i = 0; i < r->element[1]->elements; ++i) keys.emplace_back(redis::text(r->element[1]->element[i]));
  } while (cursor != "0");
  return keys;
}

std::vector<reply_ptr> run(redis::blocking_client& redis, const std::vector<std::vector<std::string>>& cmds) {
  if (cmds.empty()) return {};
  auto replies = redis.pipeline(cmds);
  for (const auto& r : replies)
    if (r->type == REDIS_REPLY_ERROR) throw std::runtime_error("Redis answered: " + std::string(redis::text(r.get())));
  return replies;
}

long long integer(const reply_ptr& r) { return r->type == REDIS_REPLY_INTEGER ? r->integer : 0; }

std::string text(const boost::json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_int64()) return std::to_string(v.as_int64());
  if (v.is_uint64()) return std::to_string(v.as_uint64());
  return "";
}

}  // namespace

boost::json::value collect_status(redis::blocking_client& redis, const std::vector<std::string>& queues) {
  boost::json::object doc;

  boost::json::array angels;
  auto angel_keys = scan(redis, std::string(angel_key_prefix) + "*");
  std::vector<std::vector<std::string>> gets;
  for (const auto& k : angel_keys) gets.push_back({"GET", k});
  for (const auto& r : run(redis, gets)) {
    if (r->type != REDIS_REPLY_STRING) continue;  // expired between SCAN and GET
    boost::system::error_code ec;
    auto v = boost::json::parse(redis::text(r.get()), ec);
    if (!ec) angels.push_back(std::move(v));
  }
  doc["angels"] = std::move(angels);

  std::vector<std::vector<std::string>> lens;
  for (const auto& q : queues) {
    for (const auto& l : queue_keys::lists(q)) lens.push_back({"LLEN", l});
    lens.push_back({"LLEN", queue_keys::dead(q)});
  }
  auto replies = run(redis, lens);
  boost::json::object qs;
  for (size_t i = 0; i < queues.size(); ++i) {
    boost::json::object o;
    o["high"] = integer(replies[i * 4]);
    o["normal"] = integer(replies[i * 4 + 1]);
    o["low"] = integer(replies[i * 4 + 2]);
    o["dead"] = integer(replies[i * 4 + 3]);
    qs[queues[i]] = std::move(o);
  }
  doc["queues"] = std::move(qs);

  const std::string processing_prefix = queue_keys::processing("");
  auto processing = scan(redis, processing_prefix + "*");
  std::sort(processing.begin(), processing.end());
  std::vector<std::vector<std::string>> plens;
  for (const auto& k : processing) {
    plens.push_back({"LLEN", k});
    plens.push_back({"LINDEX", k, "0"});  // a batch's header is not a job (core/queue/entry.hpp)
  }
  auto counts = run(redis, plens);
  boost::json::object workers;
  long long total = 0;
  for (size_t i = 0; i < processing.size(); ++i) {
    long long n = integer(counts[2 * i]);
    const auto& first = counts[2 * i + 1];
    queue::batch_header header;
    if (n > 0 && first->type == REDIS_REPLY_STRING && queue::parse_batch_header(redis::text(first.get()), header)) --n;
    if (n == 0) continue;
    workers[processing[i].substr(processing_prefix.size())] = n;
    total += n;
  }
  boost::json::object in_flight;
  in_flight["total"] = total;
  in_flight["workers"] = std::move(workers);
  doc["in_flight"] = std::move(in_flight);
  return doc;
}

std::string format_status(const boost::json::value& doc) {
  std::string out;
  const auto& angels = doc.at("angels").as_array();
  if (angels.empty()) out += "no angel running (no tempest:angel:* key)\n";
  for (const auto& a : angels) {
    const auto& o = a.as_object();
    out += fmt::format("angel {}:{} {} config {} reaper {}\n", text(o.at("host")), text(o.at("pid")), text(o.at("state")),
                       text(o.at("config")), o.contains("reaper") ? text(o.at("reaper")) : "?");
    out += fmt::format("  {:<16} {:>4} {:>8} {:<9} {:>8}  {}\n", "PROGRAM", "#", "PID", "STATE", "RESTARTS", "LAST EXIT");
    for (const auto& [name, p] : o.at("programs").as_object())
      for (const auto& i : p.as_object().at("instances").as_array()) {
        const auto& io = i.as_object();
        std::string pid = text(io.at("pid"));
        out += fmt::format("  {:<16} {:>4} {:>8} {:<9} {:>8}  {}\n", std::string(name), text(io.at("instance")),
                           pid == "0" ? "-" : pid, text(io.at("state")), text(io.at("restarts")), text(io.at("last_exit")));
      }
  }
  out += fmt::format("{:<24} {:>8} {:>8} {:>8} {:>8}\n", "QUEUE", "HIGH", "NORMAL", "LOW", "DEAD");
  for (const auto& [name, q] : doc.at("queues").as_object()) {
    const auto& o = q.as_object();
    out += fmt::format("{:<24} {:>8} {:>8} {:>8} {:>8}\n", std::string(name), text(o.at("high")), text(o.at("normal")),
                       text(o.at("low")), text(o.at("dead")));
  }
  const auto& f = doc.at("in_flight").as_object();
  out += "in flight: " + text(f.at("total"));
  std::string per;
  for (const auto& [w, n] : f.at("workers").as_object()) per += (per.empty() ? "" : ", ") + std::string(w) + " " + text(n);
  if (!per.empty()) out += " (" + per + ")";
  out += "\n";
  return out;
}

}  // namespace tempest::angel
