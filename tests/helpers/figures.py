#!/usr/bin/env python3
"""Runs a command and checks figures it prints against bounds, for tests on real models whose figures move
with the CPU's rounding (tests/CMakeLists.txt states each bound and where it was measured).

usage: figures.py [--exit N] [--at-least REGEX MIN]... [--at-most REGEX MAX]... [--expect REGEX]... -- CMD...
  --exit N              the exit code the command must return (default 0)
  --at-least REGEX MIN  the number in REGEX's first group, at its first match, must be >= MIN
  --at-most REGEX MAX   ... <= MAX
  --expect REGEX        the output must match REGEX (re.DOTALL)
Prints the command's output, then one line per figure: "figure <regex>: <value> (>= <bound>)". Exit 0 when
every check holds, 1 otherwise (a missing figure fails).
"""
import re
import subprocess
import sys


def main(argv):
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1:]
    exit_code, checks, expects = 0, [], []
    i = 0
    while i < len(options):
        o = options[i]
        if o == "--exit":
            exit_code = int(options[i + 1])
            i += 2
        elif o in ("--at-least", "--at-most"):
            checks.append((o, options[i + 1], float(options[i + 2])))
            i += 3
        elif o == "--expect":
            expects.append(options[i + 1])
            i += 2
        else:
            print(f"figures.py: unknown option {o}", file=sys.stderr)
            return 2
    run = subprocess.run(command, capture_output=True, text=True)
    out = run.stdout + run.stderr
    sys.stdout.write(out)
    ok = True
    if run.returncode != exit_code:
        print(f"figures: exit {run.returncode}, expected {exit_code}")
        ok = False
    for kind, pattern, bound in checks:
        m = re.search(pattern, out, re.DOTALL)
        if not m:
            print(f"figures: no figure matches {pattern!r}")
            ok = False
            continue
        value = float(m.group(1))
        holds = value >= bound if kind == "--at-least" else value <= bound
        print(f"figure {pattern}: {value:g} ({'>=' if kind == '--at-least' else '<='} {bound:g}){'' if holds else ' FAILED'}")
        ok &= holds
    for pattern in expects:
        if not re.search(pattern, out, re.DOTALL):
            print(f"figures: the output does not match {pattern!r}")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
