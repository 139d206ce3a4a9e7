#!/usr/bin/env bash
# Stop exactly the daemons scripts/slurm-up.sh started for the calling
# shell: the ones whose pid files it kept in /run/mirage-slurm/OWNER, OWNER
# being the pid of the shell that runs both scripts ($PPID) or
# MIRAGE_SLURM_OWNER when set. A daemon it found already running was not
# recorded and keeps running, and so do the daemons another shell started;
# a recorded pid that now belongs to another program (the daemon died and
# the pid was reused) is not signalled.
set -euo pipefail

# shellcheck source=slurm-owner.sh
. "$(dirname "$0")/slurm-owner.sh"
if [ ! -d "$state" ]; then
  others=$(find /run/mirage-slurm -mindepth 1 -maxdepth 1 -type d -printf '%f ' 2>/dev/null || true)
  echo "slurm-down.sh: slurm-up.sh started nothing for this shell (owner $owner)${others:+; it did for owners $others(set MIRAGE_SLURM_OWNER to stop theirs)}"
  exit 0
fi

# Stop in the reverse order of starting: slurmd, slurmctld, munged.
recorded=0
for name in slurmd slurmctld munged; do
  f="$state/$name.pid"
  [ -s "$f" ] || continue
  recorded=$((recorded + 1))
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
[ "$recorded" -gt 0 ] || echo "slurm-down.sh: slurm-up.sh found every daemon running for this shell (owner $owner); nothing to stop"
rmdir "$state" /run/mirage-slurm 2>/dev/null || true
