// SignalFreeThread: starts a helper thread of the mount daemon with every
// signal blocked. SIGTERM, SIGINT and SIGHUP must reach the thread that runs
// the FUSE session loop (daemon.cc): libfuse's handler only marks the session
// as exited, and the loop notices when the signal interrupts its read. The
// mask is set around the thread's creation, so there is no moment in which
// the new thread could take a signal.
#pragma once

#include <signal.h>

#include <thread>
#include <utility>

namespace blackout::control {

template <typename F>
std::thread SignalFreeThread(F&& body) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  std::thread t(std::forward<F>(body));
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return t;
}

}  // namespace blackout::control
