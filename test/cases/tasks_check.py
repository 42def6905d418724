#!/usr/bin/env python3
"""Runs every case of tasks-cases.jsonl through `quipu eval-tasks` and
compares the output with the case's `expect`.

expect is one of: a list of task indices (one ungrouped group, in order); a
list of groups {group: [names per level], tasks: [indices]} (names and order
must match); or "error" (any error). Cases tagged `js-function` need
JavaScript, which quipu does not run: for them an error is accepted as well
as the expected result.

Usage: tasks_check.py QUIPU CASES [--verbose] [--only ID,ID] [--feature F]
Exit status 0 when every case passes (apart from the KNOWN list below).
"""
import json
import subprocess
import sys
from collections import Counter

# Cases that cannot pass, each with its reason. Keep this empty when possible.
# These three need JavaScript (settings.js is true) but are not tagged
# js-function: quipu answers them with its "JavaScript is not supported" error.
KNOWN = {
    "c2380": "placeholder with a JavaScript '??' expression",
    "c2458": "preset expands to 'group by function' (JavaScript)",
    "c2459": "preset holds 'group by function' (JavaScript)",
}


def as_groups(expect):
    """The expected result as a list of (names, tasks)."""
    if expect and isinstance(expect[0], dict):
        return [(list(g["group"]), list(g["tasks"])) for g in expect]
    return [([], list(expect))]


def check(case, got):
    js = "js-function" in case.get("features", [])
    expect = case["expect"]
    if "error" in got:
        if expect == "error" or js:
            return None
        return "unexpected error: " + got["error"].replace("\n", " | ")
    if expect == "error":
        return "expected an error, got a result"
    want = as_groups(expect)
    have = [(g["names"], g["tasks"]) for g in got["groups"]]
    if not want[0][0] and not have:
        have = [([], [])]
    if have != want:
        return "got %s, want %s" % (json.dumps(have)[:600], json.dumps(want)[:600])
    if "total_before_limit" in case and got.get("total") != case["total_before_limit"]:
        return "total %s, want %s" % (got.get("total"), case["total_before_limit"])
    return None


def main():
    args = sys.argv[1:]
    verbose = "--verbose" in args
    only = None
    feature = None
    if "--only" in args:
        only = set(args[args.index("--only") + 1].split(","))
    if "--feature" in args:
        feature = args[args.index("--feature") + 1]
    quipu, cases_path = args[0], args[1]
    cases = [json.loads(l) for l in open(cases_path, encoding="utf-8") if l.strip()]
    if only:
        cases = [c for c in cases if c["id"] in only]
    if feature:
        cases = [c for c in cases if feature in c.get("features", [])]
    inputs = []
    for c in cases:
        inp = {k: c[k] for k in ("query", "tasks", "today") if k in c}
        inp["query_path"] = c.get("query_path")
        if "settings" in c:
            inp["settings"] = c["settings"]
        inputs.append(json.dumps(inp, ensure_ascii=False))
    proc = subprocess.run([quipu, "eval-tasks"], input="\n".join(inputs) + "\n",
                          capture_output=True, text=True, encoding="utf-8", timeout=600)
    outs = [l for l in proc.stdout.split("\n") if l.strip()]
    if len(outs) != len(cases):
        print("eval-tasks wrote %d lines for %d cases (exit %d)\n%s" %
              (len(outs), len(cases), proc.returncode, proc.stderr[-2000:]))
        return 1
    failed, known = [], []
    by_feature = Counter()
    for case, line in zip(cases, outs):
        why = check(case, json.loads(line))
        if why is None:
            continue
        if case["id"] in KNOWN:
            known.append(case["id"])
            continue
        failed.append(case["id"])
        for f in case.get("features", []) or ["(none)"]:
            by_feature[f] += 1
        if verbose:
            print("%s [%s] %r: %s" % (case["id"], ",".join(case.get("features", [])),
                                      case["query"][:200], why))
    passed = len(cases) - len(failed) - len(known)
    print("tasks cases: %d passed, %d failed, %d known, %d total" %
          (passed, len(failed), len(known), len(cases)))
    if failed:
        print("failures by feature: " + ", ".join("%s=%d" % kv for kv in by_feature.most_common()))
        print("failed ids: " + ",".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
