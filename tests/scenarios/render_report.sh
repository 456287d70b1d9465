#!/bin/sh
# An HTML report as a browser sees it: runs COMMAND (which must write OUT/report/index.html), loads the
# page in headless Chromium, and checks the DOM Chromium built from it: the expected numbers of charts
# of each kind, points on the maps, and no console message about a failed load or error (the page uses
# no script and no external resource, so any is a bug). Also leaves a screenshot, OUT/report.png.
#
#   render_report.sh OUT LINE_CHARTS BAR_CHARTS SCATTER_CHARTS COMMAND...
#
# Exit 77 (ctest's SKIP_RETURN_CODE) when no Chromium is installed (scripts/install-deps.sh installs it).
set -eu
out=$1
expect_line=$2
expect_bar=$3
expect_scatter=$4
shift 4
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "render_report: no chromium on PATH: skipped"
  exit 77
fi
rm -rf "$out"
mkdir -p "$out"
"$@" >"$out/command.txt" 2>&1 || { cat "$out/command.txt"; echo "render_report: the command failed"; exit 1; }
page="$out/report/index.html"
[ -s "$page" ] || { echo "render_report: $page was not written"; exit 1; }

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# A fresh profile and no background traffic: the page must render offline.
set -- --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars
timeout 120 "$browser" "$@" --enable-logging=stderr --v=0 --dump-dom "file://$page" >"$out/dom.html" 2>"$out/chromium.log"
timeout 120 "$browser" "$@" --window-size=1400,2400 --screenshot="$out/report.png" "file://$page" \
  >/dev/null 2>"$out/screenshot.log"

fail=0
check_count() {  # what, pattern, expected
  n=$(grep -o "$2" "$out/dom.html" | wc -l)
  if [ "$n" -ne "$3" ]; then
    echo "render_report: $1: $n in the DOM, expected $3"
    fail=1
  else
    echo "render_report: $1: $n"
  fi
}
check_count "line charts" '<svg [^>]*class="chart line-chart"' "$expect_line"
check_count "bar charts" '<svg [^>]*class="chart bar-chart"' "$expect_bar"
check_count "scatter charts" '<svg [^>]*class="chart scatter-chart"' "$expect_scatter"
points=$(grep -o 'class="point"' "$out/dom.html" | wc -l)
bars=$(grep -o 'class="bar"' "$out/dom.html" | wc -l)
echo "render_report: $points map points, $bars bars"
[ "$expect_scatter" -eq 0 ] || [ "$points" -gt 0 ] || { echo "render_report: maps without points"; fail=1; }
[ "$expect_bar" -eq 0 ] || [ "$bars" -gt 0 ] || { echo "render_report: bar charts without bars"; fail=1; }
# With --enable-logging=stderr Chromium logs the page's console as INFO:CONSOLE lines (a script's
# console.error shows there); the other two are how script errors and failed loads read.
if grep -E 'CONSOLE|Failed to load resource|Uncaught' "$out/chromium.log"; then
  echo "render_report: console messages above"
  fail=1
fi
[ -s "$out/report.png" ] || { echo "render_report: no screenshot"; fail=1; }
[ "$fail" -eq 0 ] && echo "render_report: $page renders"
exit "$fail"
