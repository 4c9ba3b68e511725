#!/usr/bin/env bash
# Stop the CI Slurm cluster started by .ci/slurm/start.sh (reverse order). Each daemon is stopped
# by the process id in its own pid file; waits are bounded; what does not run is skipped.
set -uo pipefail
say() { echo "[slurm-ci] $*" >&2; }

# stop_pid NAME PIDFILE: SIGTERM, wait up to 20 s, then SIGKILL.
stop_pid() {
  local name="$1" pidfile="$2" pid i
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    say "stopping $name (pid $pid)"
    kill "$pid"
    for ((i = 0; i < 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then say "$name did not stop in 20 s: SIGKILL"; kill -9 "$pid"; fi
  fi
  rm -f "$pidfile"
}

[ "$(id -u)" -eq 0 ] || { say "needs root"; exit 2; }
stop_pid slurmd /run/slurmd.pid
stop_pid slurmctld /run/slurmctld.pid
stop_pid slurmdbd /run/slurmdbd.pid
if [ -x /etc/init.d/mariadb ] && timeout 5 mysqladmin --protocol=socket ping >/dev/null 2>&1; then
  say "stopping MariaDB"
  timeout 60 /etc/init.d/mariadb stop >&2 || say "MariaDB did not stop cleanly"
fi
stop_pid munged /run/munge/munged.pid
exit 0
