// The restart decisions of one supervised instance (one process slot of a program), as a pure
// state machine with an injected clock: no processes, no signals, no I/O. The supervisor
// (supervisor.cpp) feeds it events and acts on what it answers; tests/unit/angel/angel_test.cpp
// drives it with a fake clock.
//
// States and transitions (the only ones; everything else is a no-op):
//
//   backoff  --due(now >= next_start)-->  (supervisor spawns)  --on_started-->   running
//   backoff  --on_spawn_failed-->         like a failed exit at once
//   running  --on_exit, restart wanted-->                                          backoff
//   running  --on_exit, crash_loop > 0 and crash_loop exits within crash_window--> failed
//   running  --on_exit, restart = never, or on-failure and a clean exit-->         stopped
//   running  --on_stop-->                 stopping   (supervisor sends SIGTERM, SIGKILL later)
//   stopping --on_exit-->                 stopped
//   backoff|failed --on_stop-->           stopped    (nothing runs)
//   failed|stopped --on_retry-->          backoff    (due at once; SIGHUP gives failed ones a new chance)
//
// A new instance starts in backoff, due at once. The delay after the n-th consecutive quick
// exit is backoff_min * 2^(n-1), capped at backoff_max; a run that lasted at least
// backoff_reset resets n (the process was healthy). By default (crash_loop 0) an instance is
// never given up: it keeps being restarted at most backoff_max apart, as Kubernetes'
// CrashLoopBackOff does; crash_loop > 0 is the explicit "give up after that many exits within
// crash_window". Exits by a clean exit or a failure count; a process killed by SIGKILL that the
// angel did not send (an operator, the OOM killer, a chaos test) did not crash: it is restarted
// after backoff_min and counts neither toward the backoff nor toward the crash loop.
#pragma once
#include <chrono>
#include <deque>
#include <string_view>

namespace tempest::angel {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

enum class restart_mode { always, on_failure, never };
// "always", "on-failure", "never"; false for anything else.
bool parse_restart_mode(std::string_view text, restart_mode& out);
std::string_view name(restart_mode m);

// The values come from the settings table (angel_config.cpp angel_settings(), the only place
// with defaults).
struct restart_limits {
  milliseconds backoff_min{0};
  milliseconds backoff_max{0};
  milliseconds backoff_reset{0};      // a run this long resets the backoff
  int crash_loop = 0;                 // 0: never give up; else this many exits ...
  milliseconds crash_window{0};       // ... within this long: failed
};

// How a running process ended, as far as the restart decision goes.
enum class exit_cause {
  clean,    // exit status 0
  failure,  // another exit status, or a signal other than an outside SIGKILL
  killed,   // SIGKILL the angel did not send: not the program's doing
};

enum class instance_state { backoff, running, stopping, stopped, failed };
std::string_view name(instance_state s);

class restart_policy {
 public:
  restart_policy(restart_mode mode, restart_limits limits, clock::time_point now)
      : mode_(mode), limits_(limits), next_start_(now) {}

  instance_state state() const { return state_; }
  // backoff only: when to spawn next.
  clock::time_point next_start() const { return next_start_; }
  bool due(clock::time_point now) const { return state_ == instance_state::backoff && now >= next_start_; }
  int restarts() const { return restarts_; }  // spawns after the first one
  milliseconds last_delay() const { return last_delay_; }

  void on_started(clock::time_point now);
  void on_spawn_failed(clock::time_point now) {
    started_at_ = now;
    state_ = instance_state::running;
    on_exit(now, exit_cause::failure);
  }
  // Returns the new state.
  instance_state on_exit(clock::time_point now, exit_cause cause);
  // The program was removed or changed, or the angel is stopping. Returns true when a process
  // is running and must be signalled (state becomes stopping).
  bool on_stop();
  void on_retry(clock::time_point now);
  void set_limits(restart_limits l) { limits_ = l; }

 private:
  restart_mode mode_;
  restart_limits limits_;
  instance_state state_ = instance_state::backoff;
  clock::time_point next_start_;
  clock::time_point started_at_{};
  std::deque<clock::time_point> exits_;  // exit times inside the crash window (crash_loop > 0)
  int quick_exits_ = 0;                  // consecutive exits of runs shorter than backoff_reset
  int restarts_ = 0;
  bool started_once_ = false;
  milliseconds last_delay_{0};
};

}  // namespace tempest::angel
