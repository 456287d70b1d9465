#!/usr/bin/env bash
# The installed library as its users get it (scripts/test.sh runs this after the release tests, which make
# the small zoo and its bundles). Stages `cmake --install` (DESTDIR) of the release build (static libprobex.a)
# and of the preset `shared` (libprobex.so, built here), builds the example agent, runtime/examples/, out of
# the tree against them:
#   static-cmake  find_package(probex) against the static install
#   shared-cmake  find_package(probex) against the shared install
#   shared-pc     cc audit_agent.c $(pkg-config --cflags --libs probex) against the shared install
#   static-pc     cc audit_agent.c $(pkg-config --static --cflags --libs probex) against the static install
# and checks that each prints exactly what the release build's probex-agent prints on the small zoo, that
# the shared ones load libprobex.so.1 (the SONAME), and that libprobex.so exports the C API and nothing else.
#
#   tests/install/consumers.sh      # prints PASS/FAIL lines; exits 1 if any check failed
set -euo pipefail
cd "$(dirname "$0")/../.."
release=build/release
work=$PWD/build/consumers/host
bundle=$release/small-zs.probex
models=$release/zoo-small
for f in "$bundle" "$models" "$release/runtime/probex-agent"; do
  [ -e "$f" ] || { echo "consumers: no $f: run the release tests first (scripts/test.sh)" >&2; exit 1; }
done

failures=0
check() {  # NAME COMMAND...: one PASS or FAIL line
  if "${@:2}"; then echo "PASS $1"; else echo "FAIL $1"; failures=$((failures + 1)); fi
}

echo "--- shared library build (preset shared)"
cmake --preset shared >/dev/null
start=$(date +%s)
cmake --build --preset shared -j "$(nproc)" >/dev/null
echo "built in $(($(date +%s) - start)) s"

rm -rf "$work"
mkdir -p "$work/bin"
prefix() { sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$1/CMakeCache.txt"; }
DESTDIR=$work/static cmake --install "$release" >/dev/null
DESTDIR=$work/shared cmake --install build/shared >/dev/null
static_prefix=$work/static$(prefix "$release")
shared_prefix=$work/shared$(prefix build/shared)
shared_lib=$(find "$shared_prefix" -name 'libprobex.so.*.*.*')
shared_libdir=$(dirname "$shared_lib")

# The agents, built as a user would.
cmake_agent() {  # NAME PREFIX
  cmake -S runtime/examples -B "$work/$1" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$2" >/dev/null &&
    cmake --build "$work/$1" >/dev/null &&
    grep -qx "probex_DIR:PATH=$2/.*/cmake/probex" "$work/$1/CMakeCache.txt" &&  # this install's, no other
    cp "$work/$1/probex-agent" "$work/bin/$1"
}
pc_agent() {  # NAME PREFIX [--static]: pkg-config with the staged prefix in place of the configured one
  local pc_dir flags
  pc_dir=$(dirname "$(find "$2" -name probex.pc)")
  flags=$(PKG_CONFIG_PATH=$pc_dir pkg-config --define-variable=prefix="$2" ${3:-} --cflags --libs probex) &&
    cc -std=c11 -O2 runtime/examples/audit_agent.c $flags -o "$work/bin/$1"  # flags: split on purpose
}
check "static-cmake: find_package(probex), static install" cmake_agent static-cmake "$static_prefix"
check "shared-cmake: find_package(probex), shared install" cmake_agent shared-cmake "$shared_prefix"
check "shared-pc: cc \$(pkg-config --cflags --libs probex), shared install" pc_agent shared-pc "$shared_prefix"
check "static-pc: cc \$(pkg-config --static --cflags --libs probex), static install" pc_agent static-pc "$static_prefix" --static

# Linking: the shared library's name chain and SONAME; the shared agents need libprobex.so.1 and load the
# staged one; the static ones need no libprobex, and the CMake-built one no libstdc++ either.
needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
soname_chain() {
  [ "$(readlink "$shared_libdir/libprobex.so")" = libprobex.so.1 ] &&
    [ "$(readlink "$shared_libdir/libprobex.so.1")" = "$(basename "$shared_lib")" ] &&
    readelf -d "$shared_lib" | grep -q 'SONAME.*\[libprobex\.so\.1\]'
}
loads_staged() {
  needed "$work/bin/$1" | grep -qx libprobex.so.1 &&
    LD_LIBRARY_PATH=$shared_libdir ldd "$work/bin/$1" | grep -q "libprobex\.so\.1 => $shared_libdir/libprobex\.so\.1 "
}
needs_no() { ! needed "$work/bin/$1" | grep -q "$2"; }
check "libprobex.so -> libprobex.so.1 -> $(basename "$shared_lib"), SONAME libprobex.so.1" soname_chain
for agent in shared-cmake shared-pc; do check "$agent: links libprobex.so.1, loads the staged one" loads_staged $agent; done
for agent in static-cmake static-pc; do check "$agent: needs no libprobex.so" needs_no $agent libprobex; done
check "static-cmake: needs no libstdc++.so (linked in, as the in-tree agent)" needs_no static-cmake libstdc++

# The exported symbols: exactly the functions probex.h declares (PROBEX_API), nothing of the C++ inside.
exports_api() {
  local exported declared
  exported=$(nm -D --defined-only "$shared_lib" | awk '{print $NF}' | sort)
  declared=$(grep -o 'PROBEX_API [^(]*(' runtime/include/probex/probex.h | grep -o 'probex_[a-z0-9_]*($' | tr -d '(' | sort)
  echo "nm -D --defined-only: $(wc -l <<<"$exported") symbols, $(grep -cv '^probex_' <<<"$exported" || true) not probex_*"
  grep -v '^probex_' <<<"$exported" | head -5
  [ -n "$declared" ] && [ "$exported" = "$declared" ]
}
check "libprobex.so exports the functions of probex.h and nothing else" exports_api

# The audits: each agent prints what the in-tree agent prints, byte for byte but the stages' durations
# ("seconds"), with the same exit code.
audit() {  # AGENT NAME: the records in NAME.jsonl, without durations; returns the agent's exit code
  local code=0
  LD_LIBRARY_PATH=$shared_libdir "$1" "$bundle" "$models" >"$work/$2.raw" || code=$?
  sed 's/,"seconds":{[^}]*}//' "$work/$2.raw" >"$work/$2.jsonl"
  return $code
}
reference_code=0
audit "$release/runtime/probex-agent" reference || reference_code=$?
echo "reference: $release/runtime/probex-agent on $models: $(grep -c '"status"' "$work/reference.jsonl") records, exit $reference_code"
same_audit() {
  local code=0
  audit "$work/bin/$1" "$1" || code=$?
  [ "$code" -eq "$reference_code" ] && ! grep -q '"seconds"' "$work/$1.jsonl" && diff -q "$work/reference.jsonl" "$work/$1.jsonl"
}
for agent in static-cmake shared-cmake shared-pc static-pc; do
  check "$agent: the same records as the in-tree probex-agent" same_audit $agent
done

if [ "$failures" -ne 0 ]; then echo "consumers: $failures check(s) failed"; exit 1; fi
echo "consumers: all passed"
