#!/usr/bin/env python3
"""The dependency graph between chatsynth's top-level modules, read from the
`crate::` paths in src/ (and `chatsynth::` in src/main.rs).

    python3 scripts/module-deps.py            # edges, one per line, then checks
    python3 scripts/module-deps.py --mermaid  # the graph as a mermaid block

A module is a file or folder directly under src/. An edge A -> B means some
file of A names `crate::B` (in a `use`, a path, or a `use crate::{B, ...}`
group). `error` is left out: everything may return errors. Exits 1 when two
modules import each other or any longer cycle exists, 0 otherwise. Test-only
code (`#[cfg(test)]` modules) is skipped.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
IGNORED = {"error"}


def module_of(path):
    rel = os.path.relpath(path, ROOT)
    head = rel.split(os.sep)[0]
    return head[:-3] if head.endswith(".rs") else head


def strip_tests(text):
    """Drops `#[cfg(test)] mod ... { ... }` blocks (brace-matched)."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def targets(text, prefix):
    found = set(re.findall(prefix + r"::([a-z_][a-z0-9_]*)", text))
    for group in re.findall(prefix + r"::\{([^;]*)\}", text, flags=re.S):
        depth, cur, parts = 0, "", []
        for ch in group:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
                continue
            cur += ch if depth == 0 else ""
        parts.append(cur)
        for p in parts:
            name = p.strip().split("::")[0].strip()
            if re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                found.add(name)
    return found


def graph():
    mods = set()
    for name in os.listdir(ROOT):
        if name in ("lib.rs", "main.rs"):
            continue
        if name.endswith(".rs") or os.path.isdir(os.path.join(ROOT, name)):
            mods.add(name[:-3] if name.endswith(".rs") else name)
    mods.add("main")
    edges = {m: set() for m in mods}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if not f.endswith(".rs") or f == "lib.rs":
                continue
            path = os.path.join(dirpath, f)
            text = strip_comments(strip_tests(open(path, encoding="utf-8").read()))
            src = "main" if os.path.relpath(path, ROOT) == "main.rs" else module_of(path)
            prefix = "chatsynth" if src == "main" else "crate"
            for t in targets(text, prefix):
                if t in mods and t != src and t not in IGNORED:
                    edges[src].add(t)
    for m in IGNORED:
        edges.pop(m, None)
    return edges


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    edges = graph()
    if "--mermaid" in sys.argv:
        print("```mermaid\nflowchart TD")
        for a in sorted(edges):
            for b in sorted(edges[a]):
                print(f"    {a} --> {b}")
        print("```")
        return 0
    for a in sorted(edges):
        print(f"{a} -> {', '.join(sorted(edges[a])) or '(nothing)'}")
    two_way = sorted({tuple(sorted((a, b))) for a in edges for b in edges[a] if a in edges.get(b, ())})
    bad = cycles(edges)
    for a, b in two_way:
        print(f"two-way import: {a} <-> {b}", file=sys.stderr)
    for c in bad:
        print(f"cycle among: {', '.join(c)}", file=sys.stderr)
    if bad:
        return 1
    print("no cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
