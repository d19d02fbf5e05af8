#!/usr/bin/env python3
"""What each of `chatsynth validate`'s queries reads and writes on a loaded
database: `EXPLAIN (ANALYZE, BUFFERS, TIMING OFF)` of every sql/validate/*.sql
query, run the way validate runs it (its session `work_mem`, each file's own
`-- set:` lines, the same parameters).

    python3 scripts/validate-plans.py --database-url URL --report load.json
    python3 scripts/validate-plans.py ... --query receipts --query reads --plans DIR

Per query it prints the execution time and the blocks of the whole plan:
shared (hit in PostgreSQL's buffers, read from the OS) and temp (written to
and read back from temp files). Block counts do not depend on what else the
machine is doing, so they compare two sizes of dataset more firmly than the
seconds do (docs/scale.md, "validate at 20M"). `--report` is the load report
of the dataset (its window and shape give the parameters); `--plans DIR`
also writes each plan as JSON. Needs `psql` on the PATH.
"""
import argparse
import json
import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
MOD_RS = os.path.join(ROOT, "src", "validate", "mod.rs")
DAY_MS = 86_400_000


def from_mod_rs():
    """validate's work_mem, top-user fraction and (query, parameter kind)
    list, read from src/validate/mod.rs so that they have one home."""
    text = open(MOD_RS, encoding="utf-8").read()
    work_mem = re.search(r'const VALIDATE_WORK_MEM: &str = "([^"]+)";', text)
    top = re.search(r"const TOP_USER_FRACTION: f64 = ([0-9.]+);", text)
    queries = re.findall(
        r'\(\s*"(\w+)",\s*include_str!\("[^"]+/(\w+)\.sql"\),\s*Params::(\w+),\s*\)', text
    )
    if not (work_mem and top and queries):
        sys.exit("validate-plans: src/validate/mod.rs no longer has the constants this script reads")
    return work_mem.group(1), float(top.group(1)), [(n, f, p) for n, f, p in queries]


def settings_of(sql):
    """The file's `-- set: name = value` lines (the same rule as validate's)."""
    out = []
    for line in sql.splitlines():
        line = line.strip()
        if not line.startswith("-- set:"):
            continue
        k, sep, v = line[len("-- set:"):].partition("=")
        k, v = k.strip(), v.strip()
        if sep and re.fullmatch(r"\w+", k) and re.fullmatch(r"[\w.]+", v):
            out.append((k, v))
    return out


def params_of(kind, report, top):
    ds = report["dataset"]
    end = int(ds["window"]["end_ms"])
    start = end - int(ds["window"]["days"]) * DAY_MS
    shape = ds["shape"]
    return {
        "Window": [start, end],
        "HeavyFraction": [shape["heavy_room_fraction"]],
        "Receipts": [int(shape["receipts_max_room_members"]), end],
        "TopUsers": [top],
        "None": [],
    }[kind]


def bind(sql, params):
    """Puts the parameters in as literals ($1, $2, ...); they are numbers."""
    return re.sub(r"\$(\d+)\b", lambda m: repr(params[int(m.group(1)) - 1]), sql)


def totals(plan):
    """Blocks of the whole plan: the top node's counters include its children's."""
    top = plan["Plan"]
    get = lambda k: int(top.get(k, 0))
    return {
        "ms": round(plan["Execution Time"]),
        "shared_hit": get("Shared Hit Blocks"),
        "shared_read": get("Shared Read Blocks"),
        "temp_written": get("Temp Written Blocks"),
        "temp_read": get("Temp Read Blocks"),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", required=True, help="the loaded database (a libpq URL)")
    ap.add_argument("--report", required=True, help="its load report (JSON)")
    ap.add_argument("--query", action="append", help="only this query (repeatable)")
    ap.add_argument("--plans", help="also write each plan here as NAME.json")
    a = ap.parse_args()
    work_mem, top, queries = from_mod_rs()
    report = json.load(open(a.report, encoding="utf-8"))
    if a.plans:
        os.makedirs(a.plans, exist_ok=True)
    print(f"{'query':<14}{'ms':>10}{'shared hit':>13}{'shared read':>13}{'temp written':>14}{'temp read':>12}")
    for name, file, kind in queries:
        if a.query and name not in a.query:
            continue
        sql = open(os.path.join(ROOT, "sql", "validate", file + ".sql"), encoding="utf-8").read()
        sets = "".join(f"SET {k} = {v};\n" for k, v in settings_of(sql))
        body = bind(sql, params_of(kind, report, top))
        script = (
            f"SET work_mem = '{work_mem}';\n{sets}"
            f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON)\n{body};\n"
        )
        run = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", a.database_url],
            input=script, capture_output=True, text=True,
        )
        if run.returncode != 0:
            sys.exit(f"validate-plans: {name}: {run.stderr.strip()}")
        plan = json.loads(run.stdout)[0]
        if a.plans:
            with open(os.path.join(a.plans, name + ".json"), "w", encoding="utf-8") as f:
                json.dump(plan, f, indent=1)
        t = totals(plan)
        print(f"{name:<14}{t['ms']:>10,}{t['shared_hit']:>13,}{t['shared_read']:>13,}"
              f"{t['temp_written']:>14,}{t['temp_read']:>12,}", flush=True)


if __name__ == "__main__":
    main()
