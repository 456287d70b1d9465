#!/bin/sh
# End to end on a target: audits the same models with the same bundle on the host and on the target
# (under its emulator) and checks that the reports agree (compare_reports.sh: the same tree for every
# model, the same predicted labels, and probabilities and zero-shot cosines within TOLERANCE, absolute).
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
sh "$(dirname "$0")/compare_reports.sh" "$tolerance" "$work/host.jsonl" "$work/target.jsonl"
