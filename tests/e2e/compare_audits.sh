#!/bin/sh
# End to end on a target: audits the same models with the same bundle on the host and on the target
# (under its emulator) and checks that the reports agree: the same tree for every model, the same
# predicted labels, and probabilities and zero-shot cosines within TOLERANCE (absolute).
#
#   compare_audits.sh TOLERANCE HOST_AUDIT "TARGET_AUDIT COMMAND" BUNDLE MODEL...
#
# TARGET_AUDIT COMMAND is split on spaces (the emulator line, then the target's probex-audit).
set -eu
tolerance=$1
host_audit=$2
target_audit=$3
shift 3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$host_audit" "$@" --json >"$work/host.jsonl"
# shellcheck disable=SC2086  # the emulator command line is meant to split
$target_audit "$@" --json >"$work/target.jsonl"

# One line per value: tree names, predicted flags, probabilities, cosines, in report order.
fields() {
  grep -o '"tree":[^,]*\|"predicted":[a-z]*\|"probability":[-0-9.e+]*\|"cosine":[-0-9.e+]*' "$1" | tr ':' ' '
}
fields "$work/host.jsonl" >"$work/host.txt"
fields "$work/target.jsonl" >"$work/target.txt"
models=$(grep -c . "$work/host.jsonl" || true)
awk -v tol="$tolerance" -v models="$models" '
  NR == FNR { key[FNR] = $1; value[FNR] = $2; n = FNR; next }
  {
    if (FNR > n || $1 != key[FNR]) { printf "field %d: %s on the target, %s on the host\n", FNR, $1, key[FNR]; bad = 1; exit }
    if ($1 ~ /probability|cosine/) {
      d = $2 - value[FNR]; if (d < 0) d = -d
      if (d > worst) worst = d
      if (d > tol) { printf "field %d (%s): %s on the target, %s on the host\n", FNR, $1, $2, value[FNR]; bad = 1 }
    } else if ($2 != value[FNR]) {
      printf "field %d (%s): %s on the target, %s on the host\n", FNR, $1, $2, value[FNR]; bad = 1
    }
    m = FNR
  }
  END {
    if (!bad && m != n) { printf "%d values on the target, %d on the host\n", m, n; bad = 1 }
    if (bad) exit 1
    printf "target equals host on %d models: %d values, largest difference %.3g (tolerance %s)\n", models, n, worst, tol
  }' "$work/host.txt" "$work/target.txt"
