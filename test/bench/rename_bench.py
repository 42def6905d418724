#!/usr/bin/env python3
"""Rename benchmark: renaming the busiest person of a generated vault.

    rename_bench.py --build DIR [--notes N] [--work DIR] [--runs R]

Generates a vault with gen_vault.py (into --work, default a temporary folder
under /tmp, removed at the end), indexes it with DIR/quipud, and measures in
the same run:

  rg            `rg -l -F NAME VAULT`: the files a tool without an index must
                read to find the links (the lower bound for it), median of R
  plan          rename.plan for People/NAME.md -> People/NAME Renamed.md over
                the socket, median of R (the method reads and parses every
                file it edits, twice: before and after, for the check)
  mv            `quipu mv` end to end (plan + apply), once
  apply         mv minus the plan median: hash checks, temporary files,
                fsync, renames
  follow        from the end of `quipu mv` until the index answers backlinks
                of the new name with every link (the watcher's work)

Prints one JSON object. Python 3 standard library only; needs rg.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from qp_harness import Client, Daemon  # noqa: E402


def timed(fn):
    t = time.perf_counter()
    r = fn()
    return time.perf_counter() - t, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--notes", type=int, default=10000)
    ap.add_argument("--work")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="qp-rename-bench-")
    vault = os.path.join(work, "vault")
    man_path = os.path.join(work, "manifest.json")
    try:
        subprocess.run([sys.executable, os.path.join(HERE, "gen_vault.py"), "--notes",
                        str(a.notes), "--out", vault, "--manifest", man_path], check=True,
                       stdout=subprocess.DEVNULL)
        os.makedirs(os.path.join(vault, ".obsidian"), exist_ok=True)
        with open(man_path) as f:
            man = json.load(f)
        person = man["top_person"]
        quipud = os.path.join(a.build, "quipud")
        quipu = os.path.join(a.build, "quipu")
        t0 = time.perf_counter()
        d = Daemon(vault=vault, binary=quipud, timeout=1800)
        index_s = time.perf_counter() - t0
        try:
            c = Client(d.socket, timeout=600)
            before = c.request("backlinks", {"note": "People/%s.md" % person})
            nlinks = sum(len(s["occurrences"]) for s in before["linked"])

            rg = []
            for _ in range(a.runs):
                s, p = timed(lambda: subprocess.run(["rg", "-l", "-F", person, vault],
                                                    capture_output=True, text=True))
                rg.append(s)
            rg_files = len(p.stdout.splitlines())

            params = {"path": "People/%s.md" % person, "name": person + " Renamed"}
            plans = []
            for _ in range(a.runs):
                s, plan = timed(lambda: c.request("rename.plan", params, timeout=600))
                plans.append(s)
            plan_s = statistics.median(plans)

            env = dict(os.environ, QUIPU_SOCKET=d.socket, NO_COLOR="1")
            mv_s, p = timed(lambda: subprocess.run(
                [quipu, "mv", "People/%s.md" % person, person + " Renamed"], env=env,
                capture_output=True, text=True))
            if p.returncode != 0:
                raise RuntimeError("quipu mv: " + p.stderr)
            t1 = time.perf_counter()
            want = nlinks
            while True:
                try:
                    r = c.request("backlinks", {"note": "People/%s Renamed.md" % person})
                    if sum(len(s["occurrences"]) for s in r["linked"]) == want:
                        break
                except Exception:
                    pass
                if time.perf_counter() - t1 > 600:
                    raise RuntimeError("the index did not follow")
                time.sleep(0.05)
            follow_s = time.perf_counter() - t1
            rg_s = statistics.median(rg)
            out = {
                "notes": man["notes"], "vault_bytes": man["bytes"], "person": person,
                "index_s": round(index_s, 2),
                "links_before": nlinks, "sources_before": len(before["linked"]),
                "plan_links": plan["links"], "plan_files": len(plan["files"]),
                "plan_edits": plan["edits"],
                "rg_s": round(rg_s, 4), "rg_files": rg_files,
                "plan_s": round(plan_s, 4), "plan_runs": [round(x, 4) for x in plans],
                "mv_s": round(mv_s, 4), "apply_s": round(mv_s - plan_s, 4),
                "follow_s": round(follow_s, 3),
                "plan_vs_rg": round(plan_s / rg_s, 2), "mv_vs_rg": round(mv_s / rg_s, 2),
                "cli": p.stdout.strip().splitlines(),
            }
            print(json.dumps(out, indent=2))
        finally:
            d.cleanup()
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
