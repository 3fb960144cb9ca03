#!/usr/bin/env python3
"""Checks the crate's stages: every module imports only from its own stage or the stages
below it, the top-level modules form no cycle, and one place in the library iterates tar
entries.

Stages, bottom first (src/lib.rs documents them):
  leaf      finding, error, limits, digest, compress, path, whiteout, reference, atomic
  doc       doc/
  scan      scan/
  model     model/
  rules     rules/
  read      read/
  answers   engine/, export/, layer/  (siblings: never each other)
  cli       bin/
A leaf module may use other leaf modules, but the leaves must not form a cycle either.

Usage: .ci/layers.py [SRC_DIR]   (default: src). Exit 1 with a list of violations.
"""
import os
import re
import sys

STAGES = [
    ("leaf", {"finding", "error", "limits", "digest", "compress", "path", "whiteout",
              "reference", "atomic"}),
    ("doc", {"doc"}),
    ("scan", {"scan"}),
    ("model", {"model"}),
    ("rules", {"rules"}),
    ("read", {"read"}),
    ("answers", {"engine", "export", "layer"}),
]
RANK = {}
for rank, (_, mods) in enumerate(STAGES):
    for m in mods:
        RANK[m] = rank
# Allowed outside the stages: the crate root and the fuzzing checks (behind a feature).
FREE = {"lib", "fuzzing"}

USE = re.compile(r"\bcrate::([a-z_]+)")


def top_module(src, path):
    rel = os.path.relpath(path, src)
    first = rel.split(os.sep)[0]
    return first[:-3] if first.endswith(".rs") else first


def strip_comments(text):
    out = []
    for line in text.splitlines():
        s = line.lstrip()
        if s.startswith("//"):
            continue
        out.append(line)
    return "\n".join(out)


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "src"
    edges = {}
    problems = []
    tar_loops = []
    for root, _, files in os.walk(src):
        if os.path.relpath(root, src).split(os.sep)[0] == "bin":
            continue
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            mod = top_module(src, path)
            text = strip_comments(open(path, encoding="utf-8").read())
            # tar-rs is used for writing only; reading goes through scan/tar.rs.
            for pat in ("tar::Archive", ".entries()", ".entries_with_seek()"):
                if pat in text:
                    tar_loops.append(f"{path}: uses {pat}")
            for used in set(USE.findall(text)):
                if used == mod or used not in RANK and used not in FREE:
                    continue
                if mod in FREE or used in FREE:
                    continue
                edges.setdefault(mod, set()).add(used)
                if mod not in RANK:
                    problems.append(f"{path}: module {mod} has no stage")
                    continue
                r_from, r_to = RANK[mod], RANK[used]
                if r_to > r_from:
                    problems.append(
                        f"{path}: {mod} ({STAGES[r_from][0]}) imports {used} ({STAGES[r_to][0]}), a stage above it")
                elif r_to == r_from and STAGES[r_from][0] == "answers":
                    problems.append(f"{path}: {mod} imports its sibling {used}")
    # Cycles among top-level modules (the leaves may use each other, but not in a circle).
    state = {}

    def visit(m, stack):
        state[m] = 1
        stack.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == 1:
                cyc = stack[stack.index(n):] + [n]
                problems.append("cycle: " + " -> ".join(cyc))
            elif state.get(n) is None:
                visit(n, stack)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if state.get(m) is None:
            visit(m, [])
    problems.extend(f"a tar loop outside src/scan/tar.rs: {l}" for l in tar_loops)
    # The one loop: TarReader::next is called in one place, scan/tar.rs's `walk` (tests
    # excluded); everything else hands a visitor to `walk`.
    calls = []
    for root, _, files in os.walk(src):
        for f in files:
            p = os.path.join(root, f)
            if not f.endswith(".rs"):
                continue
            text = open(p, encoding="utf-8").read().split("#[cfg(test)]")[0]
            n = len(re.findall(r"\b(?:tar|reader)\.next\(\)", text))
            if n:
                calls.append((p, n))
    one = os.path.join(src, "scan", "tar.rs")
    if calls != [(one, 1)]:
        problems.append(f"TarReader::next must be called once, in {one}'s walk; found {calls}")
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"stages ok: {len(edges)} modules, no upward import, no cycle, one tar loop")


if __name__ == "__main__":
    main()
