// tempest::fanout (include/tempest/fanout.hpp): mchunk, mend and murl, one per front.
#include "tempest/fanout.hpp"

#include "core/redis/blocking_client.hpp"
#include "core/redis_url.hpp"
#include "worker/job_codec.hpp"

#include <hiredis/hiredis.h>

#include <charconv>
#include <stdexcept>
#include <unordered_set>

namespace tempest {

fanout::fanout(std::string password, std::chrono::milliseconds timeout)
    : password_(std::move(password)), timeout_(timeout) {}

fanout::~fanout() = default;

std::vector<stream_ref> fanout::chunk(const std::vector<stream_ref>& refs, std::string_view bytes) {
  return send("mchunk", refs, bytes, true);
}

std::vector<stream_ref> fanout::end(const std::vector<stream_ref>& refs) { return send("mend", refs, {}, false); }

std::vector<stream_ref> fanout::answer(const std::vector<stream_ref>& refs, const response& res) {
  std::string json;
  detail::encode_url_answer(res, json);
  return send("murl", refs, json, true);
}

std::vector<stream_ref> fanout::send(std::string_view command, const std::vector<stream_ref>& refs,
                                     std::string_view payload, bool with_payload) {
  std::vector<stream_ref> failed;
  std::map<std::string_view, std::vector<const stream_ref*>> groups;
  for (const auto& r : refs)
    if (!r.respond_to.empty()) groups[r.respond_to].push_back(&r);
  for (auto& [respond_to, members] : groups) {
    std::string ids;
    for (const auto* r : members) {
      char digits[24];
      auto [end, ec] = std::to_chars(digits, digits + sizeof digits, r->job_id);
      if (!ids.empty()) ids.push_back(' ');
      ids.append(digits, end);
    }
    auto it = fronts_.find(respond_to);
    if (it == fronts_.end()) {
      redis_endpoint ep;
      split_host_port(respond_to, ep.host, ep.port);  // throws std::invalid_argument on a bad ref
      ep.password = password_;
      it = fronts_
               .emplace(std::string(respond_to),
                        std::make_unique<redis::blocking_client>(
                            ep, redis::blocking_options{.connect_timeout = timeout_, .io_timeout = timeout_}))
               .first;
    }
    const std::string_view argv[3] = {command, ids, payload};
    reply_ptr reply;
    try {
      reply = it->second->command(redis::blocking_client::args(argv, with_payload ? 3 : 2));
    } catch (const redis::io_error&) {
      // The front is gone or unreachable: so are its clients.
      for (const auto* r : members) failed.push_back(*r);
      continue;
    }
    if (reply->type == REDIS_REPLY_ERROR)
      throw std::runtime_error("answer endpoint " + std::string(respond_to) + " refused " + std::string(command) +
                               ": " + std::string(redis::text(reply.get())));
    if (reply->type != REDIS_REPLY_ARRAY)
      throw std::runtime_error("answer endpoint " + std::string(respond_to) + ": unexpected reply to " +
                               std::string(command));
    std::unordered_set<std::string_view> missed;
    for (std::size_t i = 0; i < reply->elements; ++i) missed.insert(redis::text(reply->element[i]));
    for (const auto* r : members) {
      char digits[24];
      auto [end, ec] = std::to_chars(digits, digits + sizeof digits, r->job_id);
      if (missed.count(std::string_view(digits, static_cast<std::size_t>(end - digits)))) failed.push_back(*r);
    }
  }
  return failed;
}

}  // namespace tempest
