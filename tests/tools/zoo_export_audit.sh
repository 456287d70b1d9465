#!/bin/sh
# A zoo exported to GGUF, TFLite or ONNX is audited like its safetensors original: the same bundle, routed, on every model
# that is not in a training split. Prints, per type, how many models the router sent to the same tree (and to
# their own tree, the folder they sit in), and how many labels flipped their predicted bit against the
# original; fails when a model is routed elsewhere than its original (refused where the original is refused:
# foreign trees, far fine-tunes) or when more than MAX_FLIP_PERCENT of the labels flip decisively (0 for
# GGUF F16, TFLite FLOAT32 and ONNX: the same predicted label sets). A label whose original probability is within 0.001 of 0.5 sits on the
# threshold, where any rounding of the weights may tip it: its flips are counted apart, and excused.
# Usage: zoo_export_audit.sh FORMAT TYPE PROBEX_ZOO PROBEX_AUDIT BUNDLE ZOO WORK MAX_FLIP_PERCENT
#   FORMAT gguf (TYPE a --gguf-type), tflite (TYPE a --tflite-type) or onnx (TYPE FLOAT, the only one)
set -eu
format=$1
type=$2
zoo_tool=$3
audit=$4
bundle=$5
zoo=$6
work=$7
max_flip=$8
case $format in
  gguf) type_option="--gguf-type $type" ;;
  tflite) type_option="--tflite-type $type" ;;
  onnx) type_option= ;;
  *) echo "zoo_export_audit: unknown format '$format'"; exit 2 ;;
esac

rm -rf "$work"
mkdir -p "$work"
# shellcheck disable=SC2086 # type_option is an option and its value, or nothing
"$zoo_tool" --export "$zoo" --out "$work/zoo" --format "$format" $type_option --force --quiet >/dev/null
# The same models in the same order: every split but train, the roots included.
(cd "$zoo" && find . -name model.safetensors | sed 's#^\./##' | grep -v '/train/' | LC_ALL=C sort) > "$work/models.txt"
[ -s "$work/models.txt" ] || { echo "zoo_export_audit: no models under $zoo"; exit 1; }
originals=
exported=
while read -r m; do
  originals="$originals $zoo/$m"
  exported="$exported $work/zoo/${m%model.safetensors}model.$format"
done < "$work/models.txt"
# shellcheck disable=SC2086 # the lists are paths without spaces, split on purpose
"$audit" "$bundle" $originals --json > "$work/safetensors.jsonl"
# shellcheck disable=SC2086
"$audit" "$bundle" $exported --json > "$work/exported.jsonl"

# One line per model: its format, the routed tree, then per label (bundle order) 1/0 for predicted or not,
# h/l for the same on the threshold (a probability printed as 0.499... or 0.500...).
summarize() {
  sed -e 's/^{"schema_version":1,"model":"//' \
      -e 's/","format":"\([a-z-]*\)".*"tree":\("[^"]*"\|null\).*"labels":\[\(.*\)\],"zero_shot".*/ \1 \2 \3/' \
      -e 's/{"name":"[^"]*","probability":0\.\(499[0-9]*\|500[0-9]*\|5\),"predicted":true}/h/g' \
      -e 's/{"name":"[^"]*","probability":0\.\(499[0-9]*\|500[0-9]*\|5\),"predicted":false}/l/g' \
      -e 's/{"name":"[^"]*","probability":[^,]*,"predicted":true}/1/g' \
      -e 's/{"name":"[^"]*","probability":[^,]*,"predicted":false}/0/g' \
      -e 's/,//g' "$1" | awk '{ print $2, $3, ($4 == "" ? "-" : $4) }'
}
summarize "$work/safetensors.jsonl" > "$work/safetensors.txt"
summarize "$work/exported.jsonl" > "$work/exported.txt"
# Columns: home tree (the model's first folder), then each summary.
sed 's#/.*##' "$work/models.txt" | paste -d' ' - "$work/safetensors.txt" "$work/exported.txt" |
  awk -v format="$format" -v type="$type" -v max_flip="$max_flip" '
  { models++
    if ($2 != "safetensors" || $5 != format) { bad = bad "\n  model " NR ": formats " $2 " and " $5 }
    same_tree += ($3 == $6); home += ($6 == "\"" $1 "\""); refused += ($6 == "null")
    if ($3 != $6) { bad = bad "\n  model " NR " of " $1 " routed to " $6 ", its original to " $3 }
    a = $4; b = $7
    if (a == "-" && b == "-") next  # refused both times: no labels
    if (length(a) != length(b)) { bad = bad "\n  model " NR ": label counts differ"; next }
    labels += length(a)
    set_a = a; set_b = b; gsub(/h/, "1", set_a); gsub(/l/, "0", set_a); gsub(/h/, "1", set_b); gsub(/l/, "0", set_b)
    for (i = 1; i <= length(a); ++i) {
      if (substr(set_a, i, 1) == substr(set_b, i, 1)) continue
      flips++; at_threshold += (substr(a, i, 1) ~ /[hl]/)
    }
    same_set += (set_a == set_b); audited++ }
  END {
    rate = labels ? 100 * flips / labels : 0
    decisive = labels ? 100 * (flips - at_threshold) / labels : 0
    printf "zoo_export_audit %s %s: %d models; routed as the original %d (home %d, refused %d); same predicted set %d of %d; label flips %d of %d (%.2f%%), %d of them on the threshold (decisive %.2f%%)\n",
           format, type, models, same_tree, home, refused, same_set, audited, flips, labels, rate, at_threshold, decisive
    if (bad != "") { print "zoo_export_audit: " bad; exit 1 }
    if (decisive > max_flip) { printf "zoo_export_audit: decisive flip rate %.2f%% above %s%%\n", decisive, max_flip; exit 1 }
  }'
