# Sourced by slurm-up.sh and slurm-down.sh: sets state, the directory of
# the pid files that slurm-up.sh keeps for the daemons it started, one per
# owner: the shell that runs both scripts ($PPID, the same for both when
# one shell runs them) or MIRAGE_SLURM_OWNER when set. A name that is not
# plain is refused: it becomes a path under /run, written as root.
owner=${MIRAGE_SLURM_OWNER:-$PPID}
case $owner in
'' | . | .. | *[!A-Za-z0-9._-]*)
  echo "$(basename "$0"): MIRAGE_SLURM_OWNER=$owner is not a plain name (letters, digits, . _ -); give another" >&2
  exit 2
  ;;
esac
state=/run/mirage-slurm/$owner
