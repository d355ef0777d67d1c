// The in-flight entry and the job-payload helpers around it: pure functions, no I/O, shared by
// the job loop (src/worker/reliable_source.cpp), the reaper (reaper.cpp) and the unit tests
// (tests/unit/core/queue/entry_test.cpp).
//
//   in-flight entry   "<queue>\n<priority>\n<job payload>" in tempest:processing:<id>, written
//                     by take.lua (JSON never holds a raw newline, so the split is unambiguous;
//                     queue names with a newline are refused by worker_options)
//   attempts field    "<respond_to>/<job id>", read from the payload's tail (respond_to "" when
//                     null; the whole payload when the tail is not a job's), by reap.lua
//
// If you change an entry's layout, change scripts/take.lua, scripts/reap.lua and split_entry
// together; the Python/Node clients (when they get reliable mode) must write the same entries.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace tempest::queue {

// An in-flight entry split into its parts (views into entry). False when it is not one.
struct entry_parts {
  std::string_view queue;
  std::string_view priority;
  std::string_view payload;
};
bool split_entry(std::string_view entry, entry_parts& out);

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
