// The queue model as the job loop (worker.cpp) and the heartbeat (reliable.cpp) name it: the
// scripts and the in-flight entry helpers now live in src/core/queue/ (scripts.hpp, entry.hpp);
// these using-declarations keep the library's detail:: names. Key names: src/core/queue/keys.hpp.
#pragma once
#include <string_view>

#include "core/queue/entry.hpp"
#include "core/queue/scripts.hpp"

namespace tempest::detail {

using queue::entry_parts;
using queue::make_worker_id;
using queue::parse_job_tail;
using queue::payload_action;
using queue::split_entry;
using queue::unsafe_retry_answer;

}  // namespace tempest::detail
