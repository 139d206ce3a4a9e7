#!/usr/bin/env bash
# Run every Go fuzz target in the repository for FUZZTIME (default 10s).
#
# The targets are found by looking for `func FuzzXxx(` in the test files,
# so a new target runs in CI without being listed here. A failing target
# leaves its input under the package's testdata/fuzz/FuzzXxx/; commit that
# file with the fix so that `go test` replays it from then on.
#
#   scripts/fuzz.sh                 every target, 10 s each
#   FUZZTIME=1m scripts/fuzz.sh     longer
#   scripts/fuzz.sh ./datasets/...  only targets under these packages
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-10s}
roots=("$@")
[ ${#roots[@]} -gt 0 ] || roots=(.)

# inputs DIR prints how many failing inputs DIR holds (0 when it does not
# exist).
inputs() {
  if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi
}

# fuzz_one PKG NAME fuzzes one target. Go 1.26's fuzzing coordinator can end
# a run with a bare "context deadline exceeded" when the -fuzztime deadline
# catches a worker mid-input (go.dev/issue/75804, fixed in Go 1.27): a
# failure that wrote no failing input. Such a run is repeated once; a failure
# that writes an input, or fails any other way, or twice, fails the target.
fuzz_one() {
  local pkg=$1 name=$2 corpus="$1/testdata/fuzz/$2" before after log
  log=$(mktemp)
  for _ in 1 2; do
    before=$(inputs "$corpus")
    if go test -run XXX_NO_TESTS -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log"; then
      rm -f "$log"
      return 0
    fi
    after=$(inputs "$corpus")
    if [ "$after" -ne "$before" ] || ! grep -qx '[[:space:]]*context deadline exceeded' "$log" ||
      grep -q 'Failing input written\|panic:' "$log"; then
      break
    fi
    echo "fuzz: $pkg $name ended with Go's fuzztime race (no failing input written); running it once more"
  done
  rm -f "$log"
  return 1
}

targets=0
failed=()
while IFS=: read -r file name; do
  pkg=./$(dirname "$file")
  echo "fuzz: $pkg $name ($fuzztime)"
  targets=$((targets + 1))
  if ! fuzz_one "$pkg" "$name"; then
    failed+=("$pkg $name")
  fi
done < <(
  for root in "${roots[@]}"; do
    grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' "${root%/...}" |
      sed -E 's#^\./##; s#\($##; s#:func #:#'
  done | sort -u
)

if [ "$targets" -eq 0 ]; then
  echo "fuzz: no fuzz targets found" >&2
  exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
  printf 'fuzz: FAILED %s\n' "${failed[@]}" >&2
  echo "fuzz: the failing inputs are under each package's testdata/fuzz/; commit them with the fix" >&2
  exit 1
fi
echo "fuzz: $targets targets passed"
