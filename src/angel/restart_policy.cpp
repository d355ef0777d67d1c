// Restart decisions of one instance; the transitions are listed in restart_policy.hpp.
#include "angel/restart_policy.hpp"

#include <algorithm>

namespace tempest::angel {

bool parse_restart_mode(std::string_view text, restart_mode& out) {
  if (text == "always") out = restart_mode::always;
  else if (text == "on-failure") out = restart_mode::on_failure;
  else if (text == "never") out = restart_mode::never;
  else return false;
  return true;
}

std::string_view name(restart_mode m) {
  switch (m) {
    case restart_mode::always: return "always";
    case restart_mode::on_failure: return "on-failure";
    case restart_mode::never: return "never";
  }
  return "?";
}

std::string_view name(instance_state s) {
  switch (s) {
    case instance_state::backoff: return "backoff";
    case instance_state::running: return "running";
    case instance_state::stopping: return "stopping";
    case instance_state::stopped: return "stopped";
    case instance_state::failed: return "failed";
  }
  return "?";
}

void restart_policy::on_started(clock::time_point now) {
  if (state_ != instance_state::backoff) return;
  if (started_once_) ++restarts_;
  started_once_ = true;
  started_at_ = now;
  state_ = instance_state::running;
}

instance_state restart_policy::on_exit(clock::time_point now, exit_cause cause) {
  if (state_ == instance_state::stopping) return state_ = instance_state::stopped;
  if (state_ != instance_state::running) return state_;
  if (mode_ == restart_mode::never || (mode_ == restart_mode::on_failure && cause == exit_cause::clean))
    return state_ = instance_state::stopped;

  if (cause == exit_cause::killed) {  // not a crash: the shortest delay, nothing counted
    last_delay_ = limits_.backoff_min;
    next_start_ = now + last_delay_;
    return state_ = instance_state::backoff;
  }
  if (now - started_at_ >= limits_.backoff_reset) quick_exits_ = 0;  // it was healthy
  ++quick_exits_;
  if (limits_.crash_loop > 0) {
    exits_.push_back(now);
    while (!exits_.empty() && now - exits_.front() > limits_.crash_window) exits_.pop_front();
    if (static_cast<int>(exits_.size()) >= limits_.crash_loop) return state_ = instance_state::failed;
  }
  milliseconds delay = limits_.backoff_min;
  for (int i = 1; i < quick_exits_ && delay < limits_.backoff_max; ++i) delay *= 2;
  last_delay_ = std::min(delay, limits_.backoff_max);
  next_start_ = now + last_delay_;
  return state_ = instance_state::backoff;
}

bool restart_policy::on_stop() {
  if (state_ == instance_state::running) {
    state_ = instance_state::stopping;
    return true;
  }
  if (state_ != instance_state::stopping) state_ = instance_state::stopped;
  return false;
}

void restart_policy::on_retry(clock::time_point now) {
  if (state_ != instance_state::failed && state_ != instance_state::stopped) return;
  exits_.clear();
  quick_exits_ = 0;
  next_start_ = now;
  state_ = instance_state::backoff;
}

}  // namespace tempest::angel
