# slurm-processes.sh: process checks shared by slurm-up.sh and slurm-down.sh (sourced, not run).
# Both must agree exactly on what counts as "our daemon is running", or down could signal a
# process up never started.

# running PID: the process exists and is not a zombie (a daemon killed by a signal stays a zombie
# until PID 1 reaps it, and its /proc entry keeps its comm meanwhile).
running() {
  local st
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# alive PIDFILE COMM: prints the pid and succeeds if the file names a running process called COMM
# (a stale file or a recycled pid is never taken for the daemon).
alive() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(tr -dc '0-9' <"$1")
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && running "$pid" || return 1
  echo "$pid"
}

# start_time PID: the process's start time in clock ticks since boot (with the pid, it tells a
# registered user from a later process that reuses its pid).
start_time() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
