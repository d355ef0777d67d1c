// The batch in flight and the job-payload helpers around it: pure functions, no I/O, shared by
// the reaper (reaper.cpp), `tempest status` and the unit tests (tests/unit/core/queue/entry_test.cpp).
//
//   batch in flight   tempest:processing:<id> = "\0<queue>\n<priority>" (the header), then the
//                     jobs exactly as queued; written by scripts/take.lua, read back by the lane
//                     with LRANGE 1 -1 (src/worker/reliable_source.cpp). Workers before this
//                     layout wrote one entry "<queue>\n<priority>\n<job>" per job; reap.lua
//                     still reads those (queue names with a newline or a NUL are refused)
//   attempts field    "<respond_to>/<job id>", read from the payload's tail (respond_to "" when
//                     null; the whole payload when the tail is not a job's), by reap.lua
//
// If you change the layout, change scripts/take.lua, scripts/reap.lua, scripts/goodbye.lua
// and parse_batch_header together; the Python/Node clients load the same scripts.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace tempest::queue {

// The header of a batch in flight (views into element). False when element is not one (a job,
// or an entry of the older layout).
struct batch_header {
  std::string_view queue;
  std::string_view priority;
};
bool parse_batch_header(std::string_view element, batch_header& out);

// respond_to ("" when null) and job id from the tail of a job payload `..., "h:p", 123]`,
// without parsing the whole job. False when the tail is not like that.
bool parse_job_tail(std::string_view payload, std::string& respond_to, std::int64_t& job_id);

// "<host>:<pid>:<lane>": unique while the process lives.
std::string make_worker_id(std::string_view host, long pid, int lane);

// The answer sent for a job that was not safe to retry after its worker died: the url answer
// [502, {...}, "..."], or {"error": "..."} for other actions.
std::string unsafe_retry_answer(std::string_view action);

// The action of a job payload (its first string), "" when it cannot be found cheaply.
std::string_view payload_action(std::string_view payload);

}  // namespace tempest::queue
