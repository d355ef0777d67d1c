// The Lua scripts of reliable delivery and the pure helpers around them, shared by the job loop
// (worker.cpp: take, goodbye), the reaper and the dead-letter commands (reliable.cpp). No I/O
// here, so tests/unit/worker_reliable_test.cpp drives the helpers directly. The public API and
// the key list are in include/tempest/reliable.hpp; key names in src/core/queue_keys.hpp.
//
//   in-flight entry   "<queue>\n<priority>\n<job payload>" in tempest:processing:<id> (JSON
//                     never holds a raw newline, so the split is unambiguous; queue names with a
//                     newline are refused by worker_options)
//   attempts field    "<respond_to>/<job id>", read from the payload's tail (respond_to "" when
//                     null; the whole payload when the tail is not a job's)
//
// If you change an entry's layout, change every script below and split_entry together; the
// Python/Node clients (when they get reliable mode) must write the same entries.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace tempest::detail {

// KEYS: 1 <queue>:high, 2 <queue>, 3 <queue>:low, 4 processing, 5 heartbeat, 6 tempest:workers,
//       7 <queue>:bell.  ARGV: 1 batch, 2 heartbeat ttl in ms, 3 worker id, 4 queue.
// Empties the processing list (the caller has handled the previous batch: this completes it),
// moves up to `batch` jobs from the highest non-empty list into it (as entries; jobs with a
// field in the tempest:cancelled hash are dropped, the field deleted), beats, registers the worker, eats as many bell tokens as jobs taken (the bell then
// stays close to "jobs waiting"), and returns the entries ({} when every list is empty).
inline constexpr std::string_view take_script = R"lua(
redis.call('DEL', KEYS[4])
redis.call('SET', KEYS[5], '1', 'PX', ARGV[2])
redis.call('SADD', KEYS[6], ARGV[3])
local names = {'high', 'normal', 'low'}
for i = 1, 3 do
  local popped = redis.call('LPOP', KEYS[i], ARGV[1])
  if popped then
    -- jobs the front cancelled (client gone) are dropped here, unstarted; the per-job check
    -- only runs while some cancellation is pending
    local jobs = popped
    if redis.call('EXISTS', 'tempest:cancelled') == 1 then
      jobs = {}
      for j = 1, #popped do
        local to, id = string.match(popped[j], ',"([^"]*)",(%d+)%]$')
        if not (to and redis.call('HDEL', 'tempest:cancelled', to .. '/' .. id) == 1) then
          jobs[#jobs + 1] = popped[j]
        end
      end
    end
    if #jobs > 0 then
      local prefix = ARGV[4] .. '\n' .. names[i] .. '\n'
      for j = 1, #jobs do jobs[j] = prefix .. jobs[j] end
      for j = 1, #jobs, 1000 do
        redis.call('RPUSH', KEYS[4], unpack(jobs, j, math.min(j + 999, #jobs)))
      end
      redis.call('LPOP', KEYS[7], #jobs)
      return jobs
    end
  end
end
return {}
)lua";

// KEYS: 1 processing, 2 heartbeat, 3 tempest:workers.  ARGV: 1 worker id.
// A worker that stops cleanly: with nothing in flight it unregisters; otherwise it only drops
// its heartbeat, so that the next reaper hands its jobs on. Returns 1 or 0.
inline constexpr std::string_view goodbye_script = R"lua(
redis.call('DEL', KEYS[2])
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[1])
  return 1
end
return 0
)lua";

// KEYS: 1 processing, 2 heartbeat, 3 tempest:workers.  ARGV: 1 worker id, 2 max attempts,
// 3 bell_keep. Returns {-1} when the heartbeat is there (the worker is alive), else
// {requeued, dead_lettered, payload of each job not safe to retry ...}; the caller answers those.
// Entries are walked last to first so that LPUSH leaves them in their old order at the head.
inline constexpr std::string_view reap_script = R"lua(
if redis.call('EXISTS', KEYS[2]) == 1 then return {-1} end
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max = tonumber(ARGV[2])
local out = {0, 0}
for i = #entries, 1, -1 do
  local q, p, job = string.match(entries[i], '^([^\n]*)\n([^\n]*)\n(.*)$')
  if q then
    local list = q
    if p == 'high' then list = q .. ':high' elseif p == 'low' then list = q .. ':low' end
    local ok, decoded = pcall(cjson.decode, job)
    local reason = nil
    local retry = true
    if not ok or type(decoded) ~= 'table' then
      reason = 'not a JSON job'
    elseif type(decoded[2]) == 'table' and type(decoded[2][1]) == 'table' and decoded[2][1].retry == false then
      retry = false
    end
    if not retry then
      out[#out + 1] = job
    else
      local rt, id = string.match(job, ',%s*"([^"]*)"%s*,%s*(%d+)%s*%]%s*$')
      if not id then
        id = string.match(job, ',%s*null%s*,%s*(%d+)%s*%]%s*$')
        rt = ''
      end
      local field = job
      if id then field = rt .. '/' .. id end
      local akey = q .. ':attempts'
      local attempts = redis.call('HINCRBY', akey, field, 1)
      redis.call('PEXPIRE', akey, 86400000)
      if reason == nil and attempts < max then
        redis.call('LPUSH', list, job)
        redis.call('RPUSH', q .. ':bell', '1')
        redis.call('LTRIM', q .. ':bell', -tonumber(ARGV[3]), -1)
        out[1] = out[1] + 1
      else
        reason = reason or ('its worker died ' .. attempts .. ' times while handling it')
        redis.call('RPUSH', q .. ':dead', cjson.encode({job = job, queue = q, priority = p,
          reason = reason, time = now, attempts = attempts, worker = ARGV[1]}))
        redis.call('HDEL', akey, field)
        out[2] = out[2] + 1
      end
    end
  end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[3], ARGV[1])
return out
)lua";

// KEYS: 1 <queue>:dead.  ARGV: 1 index (0-based; -1 = all), 2 bell_keep.
// Re-queues dead letters at the tail of their priority lists (+ a bell token each) and removes
// them; records that are not JSON stay. Returns how many were re-queued.
inline constexpr std::string_view retry_script = R"lua(
local idx = tonumber(ARGV[1])
local records, first = nil, 0
if idx < 0 then
  records = redis.call('LRANGE', KEYS[1], 0, -1)
else
  local r = redis.call('LINDEX', KEYS[1], idx)
  if not r then return 0 end
  records, first = {r}, idx
end
local tomb = '\0tempest:requeued'
local n = 0
for i, r in ipairs(records) do
  local ok, rec = pcall(cjson.decode, r)
  if ok and type(rec) == 'table' and type(rec.job) == 'string' and type(rec.queue) == 'string' then
    local q, p = rec.queue, rec.priority
    local list = q
    if p == 'high' then list = q .. ':high' elseif p == 'low' then list = q .. ':low' end
    redis.call('RPUSH', list, rec.job)
    redis.call('RPUSH', q .. ':bell', '1')
    redis.call('LTRIM', q .. ':bell', -tonumber(ARGV[2]), -1)
    redis.call('LSET', KEYS[1], first + i - 1, tomb)
    n = n + 1
  end
end
redis.call('LREM', KEYS[1], 0, tomb)
return n
)lua";

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

}  // namespace tempest::detail
