// The wait of a reliable lane that has found no job, so that it wakes at once both for a front
// that rings the bell (the Tempest front: a token on <queue>:bell per job) and for one that
// rings none (the 2012 front, or anything that only RPUSHes <queue>): implemented in
// queue_watch.cpp, used by reliable_source.cpp's next().
//
//   main connection      BLPOP <queue>:bell tempest:wake:<id> 1      (a token is only a wake-up)
//   watch connection     BLMOVE <queue> <queue> LEFT LEFT 1          (its own connection)
//
// BLMOVE from a list to itself, head to head, blocks until <queue> holds a job and then
// leaves the list as it was: a wait that takes nothing, so the job is still taken by the
// reliable take script (into the processing list, atomically). When the watch fires first it
// pushes a token on tempest:wake:<id> (PEXPIRE 10 s), which ends the main BLPOP at once; a token
// left over by a race only causes one extra take. A watch reply that stays unread while the
// lane works is read at the next wait (which then returns at once). Only <queue> is watched:
// a producer of :high or :low jobs is a Tempest one and rings the bell.
//
// The watch starts only once such jobs are seen: a take after a wait that ended by its timeout
// (no token) found jobs (enable_watch(), logged once). A pure Tempest deployment never pays for
// it: every lane's watch wakes for every job on <queue>, where one bell token wakes one lane.
//
// States of the watch: off --enable_watch--> none --wait--> connected, BLMOVE sent (pending)
// --reply--> idle --wait--> pending ... ; an error reply (Redis before 6.2: no BLMOVE) ->
// refused for good (logged once); an I/O error -> none, connected again at the next wait at
// most once a second. Both connections are redis::blocking_client (core/redis/).
#pragma once
#include <chrono>
#include <string_view>
#include <string>

#include "core/redis/blocking_client.hpp"

namespace tempest::detail {

class queue_watch {
 public:
  queue_watch(redis_endpoint ep, std::string queue, std::string bell, std::string wake, int lane);

  enum class woke { token, timeout };
  // Blocks until a bell token, a job on <queue> (through the watch, once enabled) or the 1 s
  // timeout. The main connection's BLPOP reply has been read; trouble on main throws
  // redis::io_error (the caller reconnects). timeout: no token came.
  woke wait(redis::blocking_client& main);
  // Jobs arrive without bell tokens: watch <queue> from now on.
  void enable_watch();
  bool watching() const { return enabled_; }

 private:
  bool arm();            // connects if needed and sends BLMOVE unless one is pending
  bool read_watch();     // reads the BLMOVE reply; true when a job is there
  void ring_wake();      // RPUSH + PEXPIRE tempest:wake:<id> on the watch connection
  void drop(std::string_view why);

  const std::string queue_;  // <queue>, the list a bell-less front pushes on
  const std::string bell_;   // <queue>:bell
  const std::string wake_;   // tempest:wake:<lane id>
  const int lane_;
  redis::blocking_client watch_;
  bool pending_ = false;     // a BLMOVE was sent, its reply not read
  bool enabled_ = false;     // bell-less jobs were seen
  bool off_ = false;         // this Redis has no BLMOVE: bell only
  std::chrono::steady_clock::time_point retry_after_{};
};

}  // namespace tempest::detail
