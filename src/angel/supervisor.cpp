// The angel's poll loop (API and behaviour: supervisor.hpp; restart decisions:
// restart_policy.hpp; config and diff: angel_config.hpp; spawning: child_process.hpp).
//
// Log lines name the instance as "[program.N pid P]" so one instance can be followed with grep.
#include "angel/supervisor.hpp"

#include "angel/angel_config.hpp"
#include "angel/child_process.hpp"
#include "angel/reaper.hpp"
#include "angel/status_report.hpp"
#include "core/log.hpp"
#include "core/redis/blocking_client.hpp"
#include "core/redis_url.hpp"
#include "core/redis/embedded_server.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <memory>
#include <vector>

namespace tempest::angel {
namespace {

using namespace std::chrono_literals;
constexpr auto publish_interval = 1000ms;

// One process slot of a program. The policy decides; the supervisor acts.
struct instance {
  instance(std::string p, int i, restart_mode m, restart_limits l, clock::time_point now)
      : program(std::move(p)), index(i), policy(m, l, now) {}
  std::string program;
  int index;
  restart_policy policy;
  pid_t pid = 0;                     // the group leader while running or stopping; 0 otherwise
  bool leader_exited = false;        // stopping: the leader is gone, its group may not be
  clock::time_point started_at{};
  clock::time_point kill_at{};       // stopping: SIGKILL the group after this
  std::string last_exit;             // "exit code 1", "killed by signal 9 (SIGKILL)"

  std::string tag() const { return "[" + program + "." + std::to_string(index) + (pid ? " pid " + std::to_string(pid) : "") + "]"; }
  bool holds_process() const { return pid != 0; }
};

bool group_alive(pid_t pgid) { return kill(-pgid, 0) == 0 || errno == EPERM; }

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

long long unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class supervisor {
 public:
  explicit supervisor(supervisor_options o) : opts_(std::move(o)), log_(log::get("angel")) {}

  int run() {
    if (!setup_signals()) return 1;  // first: from here on a SIGTERM is a drain, whenever it comes
    try {
      cfg_ = load();
    } catch (const config_error& e) {
      log_->error("{}", e.what());
      return 1;
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    try {
      apply_redis();
    } catch (const std::runtime_error& e) {
      log_->error("{}", e.what());
      return 1;
    }
    log_->info("angel pid {} supervising {} program(s) from {}; children get TEMPEST_REDIS={}", getpid(),
               cfg_.programs.size(), opts_.config_path, redis_url_);
    wait_for_signals(0ms);  // one that came while starting: drain before any child starts
    auto now = clock::now();
    for (const auto& [name, spec] : cfg_.programs) resize(spec, now);
    while (true) {
      now = clock::now();
      start_due(now);
      enforce_deadlines(now);
      if (!draining_ && now >= next_reap_) reap(now);
      if (now >= next_publish_) publish(now);
      if (draining_ && !any_process()) break;
      wait_for_signals(timeout(clock::now()));
      reap_children(clock::now());
    }
    unpublish();
    redis_.reset();
    embedded_.reset();  // stops the embedded Redis, after every child
    log_->info("every child has exited; angel stops");
    return exit_status_;
  }

 private:
  angel_config load() const {
    return opts_.procfile ? load_procfile(opts_.config_path) : load_toml_config(opts_.config_path);
  }

  // The children's Redis: --redis, the config's, $TEMPEST_REDIS, else an embedded redis-server
  // the angel starts (once; it runs until the angel stops). Throws std::runtime_error when that
  // one cannot start.
  void apply_redis() {
    std::string url = opts_.redis_flag;
    if (url.empty()) url = cfg_.redis;
    if (url.empty())
      if (const char* env = std::getenv("TEMPEST_REDIS"); env && *env) url = env;
    if (url.empty()) {
      if (!embedded_) {
        embedded_ = redis::embedded_server::start(cfg_.redis_server);
        log_->info("no Redis configured: started the embedded Redis at {} (pid {}) for the children; "
                   "give --redis URL to use your own", embedded_->url(), embedded_->pid());
      }
      url = embedded_->url();
    }
    if (url == redis_url_) return;
    redis_url_ = url;
    redis_.reset();
    if (url.empty()) return;
    try {
      redis_ = std::make_unique<redis::blocking_client>(
          parse_redis_url(url), redis::blocking_options{.connect_timeout = std::chrono::seconds(1),
                                                        .io_timeout = std::chrono::seconds(1)});
    } catch (const std::invalid_argument& e) {
      log_->error("--redis {}: {}; running without Redis", url, e.what());
      redis_url_.clear();
    }
  }

  bool setup_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0 || (sigfd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
      log_->error("cannot set up signal handling: {}", strerror(errno));
      return false;
    }
    signal(SIGPIPE, SIG_IGN);
    return true;
  }

  // ---- instances -------------------------------------------------------------------------

  // Makes the program's live slots match spec.count: new slots start at once, extra ones stop.
  void resize(const program_spec& spec, clock::time_point now) {
    auto& slots = slots_[spec.name];
    while (static_cast<int>(slots.size()) < spec.count)
      slots.push_back(std::make_unique<instance>(spec.name, static_cast<int>(slots.size()), spec.restart, cfg_.limits, now));
    while (static_cast<int>(slots.size()) > spec.count) {
      retire(std::move(slots.back()), now);
      slots.pop_back();
    }
  }

  // Stops an instance that leaves the config; it is kept until its process group is gone.
  void retire(std::unique_ptr<instance> inst, clock::time_point now) {
    stop(*inst, now);
    if (inst->holds_process()) retiring_.push_back(std::move(inst));
  }

  void stop(instance& inst, clock::time_point now) {
    if (inst.policy.on_stop()) {
      log_->info("{} stopping: SIGTERM to its process group", inst.tag());
      kill(-inst.pid, SIGTERM);
      inst.kill_at = now + cfg_.stop_timeout;
    }
  }

  void start_due(clock::time_point now) {
    if (draining_) return;
    for (auto& [name, slots] : slots_)
      for (auto& inst : slots)
        if (inst->policy.due(now)) start(*inst, cfg_.programs.at(name), now);
  }

  void start(instance& inst, const program_spec& spec, clock::time_point now) {
    std::string error;
    pid_t pid = spawn_child(spec, inst.index, redis_url_, error);
    if (pid == 0) {
      inst.last_exit = error;
      inst.policy.on_spawn_failed(now);
      log_->error("{} {}; {}", inst.tag(), error, next_step(inst));
      return;
    }
    inst.pid = pid;
    inst.leader_exited = false;
    inst.started_at = now;
    inst.policy.on_started(now);
    log_->info("{} started: {}", inst.tag(), spec.command_text);
  }

  std::string next_step(const instance& inst) const {
    switch (inst.policy.state()) {
      case instance_state::backoff:
        return "restart in " + std::to_string(inst.policy.last_delay().count()) + "ms";
      case instance_state::failed:
        return "crash loop (" + std::to_string(cfg_.limits.crash_loop) + " exits within " +
               std::to_string(cfg_.limits.crash_window.count()) + "ms): marked failed, not restarted";
      case instance_state::stopped: return "not restarted (restart = " + restart_name(inst) + ")";
      default: return "";
    }
  }

  std::string restart_name(const instance& inst) const {
    auto it = cfg_.programs.find(inst.program);
    return it == cfg_.programs.end() ? "?" : std::string(name(it->second.restart));
  }

  instance* find(pid_t pid) {
    for (auto& [n, slots] : slots_)
      for (auto& i : slots)
        if (i->pid == pid) return i.get();
    for (auto& i : retiring_)
      if (i->pid == pid) return i.get();
    return nullptr;
  }

  void reap_children(clock::time_point now) {
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      if (embedded_ && pid == embedded_->pid()) {
        embedded_->reaped();
        log_->error("the embedded Redis (pid {}) exited: {}; the children have no Redis: stopping", pid,
                    describe_exit(status));
        exit_status_ = 1;
        begin_drain(now);
        continue;
      }
      instance* inst = find(pid);
      if (!inst || inst->leader_exited) continue;  // a process left behind by a child: reaped, nothing else
      on_leader_exit(*inst, status, now);
    }
    // Stopping instances whose leader is gone end when their group is empty.
    for (auto& [n, slots] : slots_)
      for (auto& i : slots) finish_if_group_gone(*i);
    for (auto& i : retiring_) finish_if_group_gone(*i);
    std::erase_if(retiring_, [](const auto& i) { return !i->holds_process(); });
  }

  void on_leader_exit(instance& inst, int status, clock::time_point now) {
    inst.last_exit = describe_exit(status);
    auto ran = std::chrono::duration_cast<milliseconds>(now - inst.started_at);
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (inst.policy.state() == instance_state::stopping) {
      inst.leader_exited = true;
      log_->info("{} exited: {} after {}ms (stopping)", inst.tag(), inst.last_exit, ran.count());
      finish_if_group_gone(inst);
      return;
    }
    kill(-inst.pid, SIGKILL);  // what the dead leader left behind in its group
    std::string tag = inst.tag();
    inst.pid = 0;
    // The angel sends SIGKILL only to stopping instances (above): this one came from outside.
    bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    inst.policy.on_exit(now, ok ? exit_cause::clean : killed ? exit_cause::killed : exit_cause::failure);
    auto log_level = inst.policy.state() == instance_state::failed ? spdlog::level::err
                     : ok                                           ? spdlog::level::info
                                                                    : spdlog::level::warn;
    log_->log(log_level, "{} exited: {} after {}ms; {}{}", tag, inst.last_exit, ran.count(), next_step(inst),
              killed && inst.policy.state() == instance_state::backoff ? " (SIGKILL from outside: not counted as a crash)" : "");
  }

  void finish_if_group_gone(instance& inst) {
    if (!inst.leader_exited || group_alive(inst.pid)) return;
    inst.pid = 0;
    inst.leader_exited = false;
    inst.policy.on_exit(clock::now(), exit_cause::clean);  // stopping -> stopped
  }

  void enforce_deadlines(clock::time_point now) {
    auto check = [&](instance& i) {
      if (i.holds_process() && i.policy.state() == instance_state::stopping && now >= i.kill_at) {
        log_->warn("{} still running {}ms after SIGTERM: SIGKILL to its process group", i.tag(), cfg_.stop_timeout.count());
        kill(-i.pid, SIGKILL);
        i.kill_at = now + 1h;  // once
      }
    };
    for (auto& [n, slots] : slots_)
      for (auto& i : slots) check(*i);
    for (auto& i : retiring_) check(*i);
  }

  bool any_process() const {
    for (const auto& [n, slots] : slots_)
      for (const auto& i : slots)
        if (i->holds_process()) return true;
    return !retiring_.empty();
  }

  // ---- signals ---------------------------------------------------------------------------

  milliseconds timeout(clock::time_point now) const {
    clock::time_point next = std::min(now + publish_interval, next_publish_);
    if (!draining_) next = std::min(next, next_reap_);
    auto consider = [&](const instance& i) {
      if (i.policy.state() == instance_state::backoff && !draining_) next = std::min(next, i.policy.next_start());
      if (i.policy.state() == instance_state::stopping) next = std::min({next, i.kill_at, now + 50ms});
    };
    for (const auto& [n, slots] : slots_)
      for (const auto& i : slots) consider(*i);
    for (const auto& i : retiring_) consider(*i);
    return std::max(0ms, std::chrono::ceil<milliseconds>(next - now));
  }

  void wait_for_signals(milliseconds wait) {
    pollfd p{sigfd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(wait.count())) <= 0) return;
    signalfd_siginfo si;
    while (read(sigfd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) on_stop_signal(static_cast<int>(si.ssi_signo));
      else if (si.ssi_signo == SIGHUP) reload();
      // SIGCHLD: reap_children() runs after every wake-up.
    }
  }

  void on_stop_signal(int signo) {
    auto now = clock::now();
    if (draining_) {
      log_->warn("second {}: SIGKILL to every child now", sigabbrev_np(signo));
      for (auto& [n, slots] : slots_)
        for (auto& i : slots) if (i->holds_process()) i->kill_at = now;
      for (auto& i : retiring_) i->kill_at = now;
      return;
    }
    log_->info("SIG{}: draining (SIGTERM to every child, SIGKILL after {}ms)", sigabbrev_np(signo), cfg_.stop_timeout.count());
    begin_drain(now);
  }

  void begin_drain(clock::time_point now) {
    if (draining_) return;
    draining_ = true;
    for (auto& [n, slots] : slots_)
      for (auto& i : slots) stop(*i, now);
    next_publish_ = now;  // show "draining" at once
  }

  void reload() {
    if (draining_) return;
    angel_config next;
    try {
      next = load();
    } catch (const config_error& e) {
      log_->error("SIGHUP: {}; keeping the running config", e.what());
      return;
    }
    auto d = diff(cfg_, next);
    auto now = clock::now();
    log_->info("SIGHUP: reloaded {}: {} added, {} removed, {} changed, {} recounted", opts_.config_path, d.added.size(),
               d.removed.size(), d.changed.size(), d.recounted.size());
    for (const auto& name : d.removed) {
      for (auto& i : slots_[name]) retire(std::move(i), now);
      slots_.erase(name);
    }
    for (const auto& name : d.changed) {
      for (auto& i : slots_[name]) retire(std::move(i), now);
      slots_[name].clear();
    }
    cfg_ = std::move(next);
    try {
      apply_redis();
    } catch (const std::runtime_error& e) {
      log_->error("SIGHUP: {}; keeping Redis {}", e.what(), redis_url_);
    }
    for (auto& [name, slots] : slots_)
      for (auto& i : slots) {
        i->policy.set_limits(cfg_.limits);
        if (i->policy.state() == instance_state::failed) i->policy.on_retry(now);  // a new chance
      }
    for (const auto& [name, spec] : cfg_.programs) resize(spec, now);
  }

  // ---- Redis: reaper and state ---------------------------------------------------------

  void reap(clock::time_point now) {
    next_reap_ = now + cfg_.reap_interval;
    if (redis_url_.empty()) return;
    try {
      auto r = reap_once(redis_url_);
      if (!r.available) {
        if (!reaper_warned_) log_->warn("the worker library has no reaper yet: jobs of dead workers are not re-queued");
        reaper_warned_ = true;
        reaper_available_ = false;
        return;
      }
      reaper_available_ = true;
      for (const auto& line : r.lines) log_->warn("reaper: {}", line);
    } catch (const std::exception& e) {
      log_->warn("reaper: {}", e.what());
    }
  }

  boost::json::object state_document(clock::time_point now) const {
    boost::json::object programs;
    for (const auto& [name, spec] : cfg_.programs) {
      boost::json::array list;
      auto it = slots_.find(name);
      if (it != slots_.end())
        for (const auto& i : it->second) {
          boost::json::object o;
          o["instance"] = i->index;
          o["pid"] = i->pid;
          o["state"] = std::string(angel::name(i->policy.state()));
          o["restarts"] = i->policy.restarts();
          o["last_exit"] = i->last_exit;
          o["uptime_ms"] = i->pid ? std::chrono::duration_cast<milliseconds>(now - i->started_at).count() : 0;
          o["next_start_ms"] = i->policy.state() == instance_state::backoff
                                   ? std::max<long long>(0, std::chrono::duration_cast<milliseconds>(i->policy.next_start() - now).count())
                                   : 0;
          list.push_back(std::move(o));
        }
      boost::json::object p;
      p["command"] = spec.command_text;
      p["count"] = spec.count;
      p["restart"] = std::string(angel::name(spec.restart));
      p["instances"] = std::move(list);
      programs[name] = std::move(p);
    }
    boost::json::object doc;
    doc["host"] = host_;
    doc["pid"] = getpid();
    doc["state"] = draining_ ? "draining" : "running";
    doc["config"] = opts_.config_path;
    doc["redis"] = redis_ ? redis_->name() : "";
    doc["updated_ms"] = unix_ms();
    doc["reaper"] = reaper_available_ ? "running" : "unavailable";
    doc["programs"] = std::move(programs);
    return doc;
  }

  void publish(clock::time_point now) {
    next_publish_ = now + publish_interval;
    if (!redis_) return;
    try {
      auto r = redis_->command({"SET", angel_key(host_, getpid()), boost::json::serialize(state_document(now)), "PX",
                                std::to_string(angel_key_ttl_ms)});
      if (r->type == REDIS_REPLY_ERROR) throw std::runtime_error(std::string(redis::text(r.get())));
      if (redis_down_) log_->info("Redis at {} reachable again", redis_->name());
      redis_down_ = false;
    } catch (const std::exception& e) {
      if (!redis_down_) log_->warn("cannot publish the state: {} (retrying every second)", e.what());
      redis_down_ = true;
    }
  }

  void unpublish() {
    if (!redis_) return;
    try {
      redis_->command({"DEL", angel_key(host_, getpid())});
    } catch (const std::exception&) {
    }
  }

  supervisor_options opts_;
  std::shared_ptr<spdlog::logger> log_;
  angel_config cfg_;
  std::string redis_url_;                     // what children get as TEMPEST_REDIS; empty: none
  std::unique_ptr<redis::embedded_server> embedded_;  // when no Redis is configured
  std::unique_ptr<redis::blocking_client> redis_;
  std::string host_ = hostname();
  int sigfd_ = -1;
  bool draining_ = false;
  int exit_status_ = 0;
  bool redis_down_ = false;
  bool reaper_warned_ = false;
  bool reaper_available_ = false;
  clock::time_point next_publish_{};
  clock::time_point next_reap_{};
  std::map<std::string, std::vector<std::unique_ptr<instance>>> slots_;  // program -> slot index
  std::vector<std::unique_ptr<instance>> retiring_;                     // left the config, still stopping
};

}  // namespace

int run_angel(const supervisor_options& options) { return supervisor(options).run(); }

}  // namespace tempest::angel
