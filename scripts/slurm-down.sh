#!/usr/bin/env bash
# Stop exactly the daemons scripts/slurm-up.sh started: the ones whose pid
# files it kept in /run/mirage-slurm. A daemon it found already running was
# not recorded and keeps running; a recorded pid that now belongs to another
# program (the daemon died and the pid was reused) is not signalled.
set -euo pipefail

state=/run/mirage-slurm
[ -d "$state" ] || { echo "slurm-down.sh: nothing was started by slurm-up.sh"; exit 0; }

# Stop in the reverse order of starting: slurmd, slurmctld, munged.
for name in slurmd slurmctld munged; do
  f="$state/$name.pid"
  [ -s "$f" ] || continue
  pid=$(cat "$f")
  if [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$name" ]; then
    kill -TERM "$pid"
    for _ in $(seq 100); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
    if [ -e "/proc/$pid" ]; then
      echo "slurm-down.sh: $name ($pid) did not stop within 10 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "slurm-down.sh: stopped $name ($pid)"
  else
    echo "slurm-down.sh: $name ($pid) is no longer running"
  fi
  rm -f "$f"
done
rmdir "$state" 2>/dev/null || true
