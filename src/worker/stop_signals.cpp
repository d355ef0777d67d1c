// tempest::catch_stop_signals and the flag the job loop reads (API: stop_signals.hpp).
#include "worker/stop_signals.hpp"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <mutex>

#include "tempest/worker.hpp"

namespace tempest {
namespace {

std::atomic<bool> signal_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);
extern "C" void on_stop_signal(int) { signal_stop.store(true, std::memory_order_relaxed); }

// The dispositions found by the first catch_stop_signals(), restored by release_stop_signals().
struct saved_dispositions {
  std::mutex mutex;
  bool installed = false;  // guarded by mutex
  struct sigaction old_int {}, old_term {}, old_pipe {};
};

saved_dispositions& saved() {
  static saved_dispositions s;
  return s;
}

}  // namespace

void catch_stop_signals() noexcept {
  auto& s = saved();
  {
    std::lock_guard lock(s.mutex);
    if (!s.installed) {
      struct sigaction sa {};
      sa.sa_handler = on_stop_signal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESETHAND;  // a second signal kills as usual
      sigaction(SIGINT, &sa, &s.old_int);
      sigaction(SIGTERM, &sa, &s.old_term);
      struct sigaction ignore {};
      ignore.sa_handler = SIG_IGN;  // a closed answer socket is an error value, not a death
      sigemptyset(&ignore.sa_mask);
      sigaction(SIGPIPE, &ignore, &s.old_pipe);
      s.installed = true;
    }
  }
  // Only now may a pending stop signal (blocked by the parent at spawn) be delivered.
  sigset_t stops;
  sigemptyset(&stops);
  sigaddset(&stops, SIGTERM);
  sigaddset(&stops, SIGINT);
  pthread_sigmask(SIG_UNBLOCK, &stops, nullptr);
}

namespace detail {

bool stop_signalled() noexcept { return signal_stop.load(std::memory_order_relaxed); }

void release_stop_signals() noexcept {
  auto& s = saved();
  std::lock_guard lock(s.mutex);
  if (s.installed) {
    sigaction(SIGINT, &s.old_int, nullptr);
    sigaction(SIGTERM, &s.old_term, nullptr);
    sigaction(SIGPIPE, &s.old_pipe, nullptr);
    s.installed = false;
  }
  signal_stop.store(false, std::memory_order_relaxed);
}

}  // namespace detail
}  // namespace tempest
