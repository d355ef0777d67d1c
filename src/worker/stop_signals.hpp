// The stop signals of the worker library (implemented in stop_signals.cpp; the public call is
// tempest::catch_stop_signals() in include/tempest/worker.hpp).
//
//   catch_stop_signals()    first call: SIGTERM and SIGINT set a flag (SA_RESETHAND: a second
//                           one kills as usual), SIGPIPE ignored, the dispositions found are
//                           saved; SIGTERM and SIGINT are unblocked in the calling thread
//   stop_signalled()        the flag (async-signal-safe to read anywhere)
//   release_stop_signals()  after run(): restores the saved dispositions, clears the flag
//
// Why so early: a SIGTERM that arrives before a handler exists kills by the default action,
// and a supervisor sends SIGTERM whenever it wants. worker_options::from_args calls
// catch_stop_signals() before it reads a flag, and the worker constructor and run() call it
// too (a program that uses worker_options::parse calls it first itself), so a stop asked at any time after main starts is a clean stop: run() returns 0 without
// taking a job. The window before main (exec, the dynamic loader) only the parent can close:
// a supervisor may spawn with SIGTERM/SIGINT blocked; the unblock here delivers what is pending.
#pragma once

namespace tempest::detail {

bool stop_signalled() noexcept;
void release_stop_signals() noexcept;

}  // namespace tempest::detail
