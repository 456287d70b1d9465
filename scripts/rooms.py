#!/usr/bin/env python3
"""The drawing of the house: which room (folder) of probex includes which, from the sources' #include lines.

usage: scripts/rooms.py [--check]

A room is a folder under runtime/ or converter/ (runtime/backends/ with its subfolders is one room), and
platforms/. Project headers are included from the repository's root ("runtime/formats/gguf.h"), the public
ones as installed ("probex/probex.h", "probex/platform/paths.h"), generated ones by their bare name.
--check exits 1 when an include names no file that way, or when two rooms include each other (a cycle,
however long), so the arrows of the drawing run one way.
"""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = {"probex_bundle_generated.h", "tflite_subset_generated.h", "probex/version.h"}
PUBLIC = {"probex/": "runtime/include/probex/", "probex/platform/": "platforms/include/probex/platform/"}


def room(path: str) -> str:
    parts = path.split("/")
    if parts[0] == "platforms" or path.startswith("runtime/include/probex/platform"):
        return "platforms"
    if parts[:2] == ["runtime", "include"]:
        return "runtime/include"
    return "/".join(parts[:2])


def resolve(include: str):
    if include in GENERATED:
        return None
    for prefix, folder in sorted(PUBLIC.items(), key=lambda p: -len(p[0])):
        if include.startswith(prefix):
            return folder + include[len(prefix):]
    return include


def main() -> int:
    check = "--check" in sys.argv[1:]
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "runtime", "converter",
                             "platforms"], capture_output=True, text=True, check=True).stdout.split()
    sources = [f for f in listed if re.search(r"\.(h|hpp|c|cpp)$", f) and (ROOT / f).is_file()]
    arrows, errors = {}, []
    for f in sources:
        for n, line in enumerate((ROOT / f).read_text().splitlines(), 1):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if not m:
                continue
            target = resolve(m.group(1))
            if target is None:
                continue
            if not (ROOT / target).is_file():
                errors.append(f"{f}:{n}: \"{m.group(1)}\" is not a path from the repository's root")
                continue
            if room(target) != room(f):
                arrows.setdefault(room(f), set()).add(room(target))
    for source in sorted(arrows):
        print(f"{source:20} -> {', '.join(sorted(arrows[source]))}")
    # A cycle: a room that reaches itself.
    for start in sorted(arrows):
        seen, todo = set(), list(arrows[start])
        while todo:
            r = todo.pop()
            if r == start:
                errors.append(f"cycle: {start} reaches itself through {', '.join(sorted(seen))}")
                break
            if r not in seen:
                seen.add(r)
                todo.extend(arrows.get(r, ()))
    for e in errors:
        print(e, file=sys.stderr)
    return 1 if check and errors else 0


if __name__ == "__main__":
    sys.exit(main())
