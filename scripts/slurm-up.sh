#!/usr/bin/env bash
# Bring up a single-node Slurm cluster (slurmctld + slurmd + munged) from
# Debian's packages, on a machine without systemd: the test machines and CI.
#
#   scripts/slurm-up.sh          install the packages if missing, configure, start
#   scripts/slurm-up.sh --clear  the same, but a controller this script starts
#                                forgets the jobs an earlier controller saved
#   scripts/slurm-down.sh        stop exactly the daemons this script started
#
# --clear is for CI: its machine may be a copy of one whose queue still held
# jobs (slurmctld saves them in StateSaveLocation and picks them up again when
# it starts), and the tests' jobs would wait behind them. It starts slurmctld
# with -c, which drops saved jobs and node states; a controller that is
# already running is left alone, jobs and all.
#
# Needs root. Idempotent: a daemon that is already running is left alone and
# not recorded, so slurm-down.sh never stops a daemon it did not start. The
# record belongs to the shell that runs both scripts (its pid, $PPID here and
# in slurm-down.sh, or MIRAGE_SLURM_OWNER when set): a slurm-down.sh run for
# one user of the cluster (CI's trap) leaves alone the daemons another one
# started (a queue of long runs) and still uses. An
# existing /etc/slurm/slurm.conf that this script did not write is kept (the
# machine is then someone's real cluster node, and is only started).
#
# Facts this encodes (Debian 12, Slurm 22.05): apt installs the daemons but
# starts nothing; munged runs as user munge with its key 0400 and
# /etc/munge 0700; SlurmUser=slurm owns the state, spool and log
# directories; the node line takes CPUs/RealMemory from `slurmd -C` (any
# mismatch makes the node INVAL); without cgroups, processes are tracked by
# proctrack/linuxproc and task/none; there is no accounting database, so
# MinJobAge keeps finished jobs visible to squeue/scontrol for a day.
set -euo pipefail

clear=()
case "${1:-}" in
'') ;;
--clear) clear=(-c) ;;
*)
  echo "slurm-up.sh: unknown argument '$1'; the only option is --clear (forget the jobs an earlier controller saved)" >&2
  exit 2
  ;;
esac

# shellcheck source=slurm-owner.sh
. "$(dirname "$0")/slurm-owner.sh"
conf=/etc/slurm/slurm.conf
marker="# written by mirage scripts/slurm-up.sh"

if [ "$(id -u)" -ne 0 ]; then
  echo "slurm-up.sh: must run as root (it installs packages and starts daemons)" >&2
  exit 1
fi

need=()
for p in munge slurmctld slurmd slurm-client; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "slurm-up.sh: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

mkdir -p "$state"

# pid_alive PIDFILE NAME: the pid file names a live process called NAME.
pid_alive() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1")
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$2" ]
}

# --- munge -----------------------------------------------------------------
install -d -o munge -g munge -m 0700 /etc/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
install -d -o munge -g munge -m 0700 /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
if pid_alive /run/munge/munged.pid munged; then
  echo "slurm-up.sh: munged already running, leaving it alone"
else
  runuser -u munge -- /usr/sbin/munged
  cp /run/munge/munged.pid "$state/munged.pid"
fi

# --- slurm configuration -----------------------------------------------------
node=$(slurmd -C | head -n1)     # NodeName=vm CPUs=2 Boards=1 ... RealMemory=N
host=$(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' <<<"$node")
if [ -z "$host" ]; then
  echo "slurm-up.sh: cannot read the node's hardware from 'slurmd -C': $node" >&2
  exit 1
fi
if [ ! -e "$conf" ] || grep -qF "$marker" "$conf"; then
  mkdir -p /etc/slurm
  cat >"$conf.tmp" <<EOF
$marker
ClusterName=mirage
SlurmctldHost=$host
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# No accounting database: keep finished jobs in squeue/scontrol for a day.
MinJobAge=86400
KillWait=10
$node State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$conf.tmp" "$conf"
fi
install -d -o slurm -g slurm -m 0755 /var/lib/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm /run/slurm

# --- daemons -------------------------------------------------------------------
if pid_alive /run/slurm/slurmctld.pid slurmctld; then
  echo "slurm-up.sh: slurmctld already running, leaving it alone"
else
  slurmctld "${clear[@]}"
  for _ in $(seq 50); do [ -s /run/slurm/slurmctld.pid ] && break; sleep 0.1; done
  cp /run/slurm/slurmctld.pid "$state/slurmctld.pid"
fi
if pid_alive /run/slurm/slurmd.pid slurmd; then
  echo "slurm-up.sh: slurmd already running, leaving it alone"
else
  slurmd
  for _ in $(seq 50); do [ -s /run/slurm/slurmd.pid ] && break; sleep 0.1; done
  cp /run/slurm/slurmd.pid "$state/slurmd.pid"
fi

# Wait until the controller answers and the node takes jobs.
for _ in $(seq 300); do
  if scontrol ping 2>/dev/null | grep -q 'is UP'; then
    st=$(sinfo -h -N -n "$host" -o %t 2>/dev/null || true)
    case "$st" in
      idle*|mix*|alloc*) echo "slurm-up.sh: Slurm is up (node $host $st)"; exit 0 ;;
      down*|drain*|inval*) scontrol update NodeName="$host" State=RESUME 2>/dev/null || true ;;
    esac
  fi
  sleep 0.1
done
echo "slurm-up.sh: Slurm did not come up within 30 s; see /var/log/slurm/slurmctld.log and slurmd.log" >&2
sinfo -N -l >&2 || true
exit 1
