#!/bin/sh
# Checks that two audit reports (JSON lines, docs/audit-json.md) agree: the same tree for every model, the
# same predicted labels (one flip excused where the host's probability is within TOLERANCE of 0.5), and
# probabilities and zero-shot cosines within TOLERANCE (absolute). The host's and the target's arithmetic
# differ (x86 and ARM kernels), so a probability on the threshold may land on either side; each run prints
# the largest difference it saw. Used for a
# target's reports against the host's (compare_audits.sh, scripts/test-arm.sh).
#
#   compare_reports.sh TOLERANCE HOST.jsonl TARGET.jsonl
set -eu
tolerance=$1
host=$2
target=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One line per value: tree names, predicted flags, probabilities, cosines, in report order.
fields() {
  grep -o '"tree":[^,]*\|"predicted":[a-z]*\|"probability":[-0-9.e+]*\|"cosine":[-0-9.e+]*' "$1" | tr ':' ' '
}
fields "$host" >"$work/host.txt"
fields "$target" >"$work/target.txt"
models=$(grep -c . "$host" || true)
target_models=$(grep -c . "$target" || true)
# Nothing compared is no agreement: a side that reports no model (a crash, an empty folder) fails.
if [ "$models" -eq 0 ] || [ "$target_models" -ne "$models" ]; then
  echo "$models models on the host, $target_models on the target: nothing to compare" >&2
  exit 1
fi
# FILENAME, not NR == FNR: the host's values must not be taken from the target's file when the host's is empty.
awk -v tol="$tolerance" -v models="$models" -v host_file="$work/host.txt" '
  FILENAME == host_file { key[FNR] = $1; value[FNR] = $2; n = FNR; next }
  {
    if (FNR > n || $1 != key[FNR]) { printf "field %d: %s on the target, %s on the host\n", FNR, $1, key[FNR]; bad = 1; exit }
    if ($1 ~ /probability|cosine/) {
      d = $2 - value[FNR]; if (d < 0) d = -d
      if (d > worst) worst = d
      if (d > tol) { printf "field %d (%s): %s on the target, %s on the host\n", FNR, $1, $2, value[FNR]; bad = 1 }
    } else if ($2 != value[FNR]) {
      # A label whose host probability is within the tolerance of 0.5 sits on the threshold: a predicted
      # flag that differs there is the tolerance at work; one such flip is excused, and counted.
      p = value[FNR - 1] - 0.5; if (p < 0) p = -p
      if ($1 ~ /predicted/ && key[FNR - 1] ~ /probability/ && p <= tol && threshold_flips < 1) {
        threshold_flips++
        printf "field %d (%s): %s on the target, %s on the host, on the threshold (p %s): excused\n", FNR, $1, $2, value[FNR], value[FNR - 1]
      } else {
        printf "field %d (%s): %s on the target, %s on the host\n", FNR, $1, $2, value[FNR]; bad = 1
      }
    }
    m = FNR
  }
  END {
    if (!bad && m != n) { printf "%d values on the target, %d on the host\n", m, n; bad = 1 }
    if (n == 0) { print "no values to compare"; bad = 1 }
    if (bad) exit 1
    printf "target equals host on %d models: %d values, largest difference %.3g (tolerance %s)\n", models, n, worst, tol
  }' "$work/host.txt" "$work/target.txt"
