// tempest::fanout: writes to many kept streams, or answers many waiting requests, one command
// per front (docs/protocol.md 10.6, 12.3): the way a worker pushes to a set of hanging GETs.
//
//   // in a handler: GET /events keeps its stream open
//   res.set_header("Content-Type", "text/plain");
//   auto ref = res.stream().keep();                       // {respond_to, job_id}
//   { std::lock_guard l(m); hanging.push_back(ref); }
//
//   // anywhere later (any thread owning the fanout):
//   tempest::fanout out(options.answer_password);
//   auto gone = out.chunk(hanging, "news\n");             // mchunk: the refs that did not take it
//   out.end(hanging);                                     // mend
//   out.answer(waiting, res);                             // murl: one whole answer to each
//
// Each call groups the refs by respond_to and sends one command to each front's answer
// endpoint on a connection of its own (blocking, kept open between calls, AUTH with the
// password), then reads its reply: the ids the front reports, and every ref of a front that
// could not be reached, come back as not taken. Refs that came back are over for good (the
// client left, the stream ended or was cut): drop them.
//
// Threads: not thread-safe; one fanout per thread, or a lock around it.
#pragma once
#include "tempest/response.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tempest {

namespace redis { class blocking_client; }

class fanout {
 public:
  // password: the fronts' --answer-password (worker_options::answer_password); timeout: to
  // connect and for each reply.
  explicit fanout(std::string password = {}, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  ~fanout();
  fanout(const fanout&) = delete;
  fanout& operator=(const fanout&) = delete;

  // The same bytes as one more chunk of each kept stream (mchunk).
  std::vector<stream_ref> chunk(const std::vector<stream_ref>& refs, std::string_view bytes);
  // Ends each kept stream (mend).
  std::vector<stream_ref> end(const std::vector<stream_ref>& refs);
  // One whole answer to each waiting request (murl), encoded as a handler's answer is.
  std::vector<stream_ref> answer(const std::vector<stream_ref>& refs, const response& res);

 private:
  std::vector<stream_ref> send(std::string_view command, const std::vector<stream_ref>& refs,
                               std::string_view payload, bool with_payload);
  std::string password_;
  std::chrono::milliseconds timeout_;
  std::map<std::string, std::unique_ptr<redis::blocking_client>, std::less<>> fronts_;
};

}  // namespace tempest
