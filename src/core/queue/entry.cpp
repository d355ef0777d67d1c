// The batch header and job-payload helpers (API and layout: entry.hpp).
#include "core/queue/entry.hpp"

#include <fmt/format.h>

#include "core/json_writer.hpp"

namespace tempest::queue {

bool parse_batch_header(std::string_view e, batch_header& out) {
  if (e.empty() || e[0] != '\0') return false;
  auto nl = e.find('\n');
  if (nl == std::string_view::npos || e.find('\n', nl + 1) != std::string_view::npos) return false;
  out.queue = e.substr(1, nl - 1);
  out.priority = e.substr(nl + 1);
  return true;
}

bool parse_job_tail(std::string_view p, std::string& respond_to, std::int64_t& job_id) {
  auto is_space = [](char ch) { return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n'; };
  std::size_t end = p.size();
  while (end > 0 && is_space(p[end - 1])) --end;
  if (end == 0 || p[end - 1] != ']') return false;
  --end;
  while (end > 0 && is_space(p[end - 1])) --end;
  std::size_t digits_end = end;
  while (end > 0 && p[end - 1] >= '0' && p[end - 1] <= '9') --end;
  if (end == digits_end || digits_end - end > 18) return false;
  std::int64_t id = 0;
  for (std::size_t i = end; i < digits_end; ++i) id = id * 10 + (p[i] - '0');
  while (end > 0 && is_space(p[end - 1])) --end;
  if (end == 0 || p[end - 1] != ',') return false;
  --end;
  while (end > 0 && is_space(p[end - 1])) --end;
  if (end >= 4 && p.substr(end - 4, 4) == "null") {
    respond_to.clear();
  } else {
    if (end == 0 || p[end - 1] != '"') return false;
    std::size_t close = end - 1;
    std::size_t open = p.rfind('"', close == 0 ? 0 : close - 1);
    if (open == std::string_view::npos || open == close) return false;
    if (p.substr(open + 1, close - open - 1).find('\\') != std::string_view::npos) return false;
    std::size_t before = open;  // the respond_to string must be an item of the array
    while (before > 0 && is_space(p[before - 1])) --before;
    if (before == 0 || p[before - 1] != ',') return false;
    respond_to.assign(p.substr(open + 1, close - open - 1));
  }
  job_id = id;
  return true;
}

std::string make_worker_id(std::string_view host, long pid, int lane) {
  return fmt::format("{}:{}:{}", host.empty() ? "localhost" : host, pid, lane);
}

std::string unsafe_retry_answer(std::string_view action) {
  constexpr std::string_view why_url = "the worker handling this request died; it is not safe to retry";
  constexpr std::string_view why_job = "the worker handling this job died; it is not safe to retry";
  std::string out;
  if (action == "url") {
    out = R"([502,{"Content-Type":"text/plain"},)";
    append_json_string(out, why_url);
    out += ']';
  } else {
    out = R"({"error":)";
    append_json_string(out, why_job);
    out += '}';
  }
  return out;
}

std::string_view payload_action(std::string_view p) {
  auto open = p.find('"');
  if (open == std::string_view::npos || p.substr(0, open).find_first_not_of(" \t\r\n[") != std::string_view::npos) return {};
  auto close = p.find('"', open + 1);
  if (close == std::string_view::npos) return {};
  auto a = p.substr(open + 1, close - open - 1);
  if (a.find('\\') != std::string_view::npos) return {};
  return a;
}

}  // namespace tempest::queue
