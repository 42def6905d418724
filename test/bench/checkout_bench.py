#!/usr/bin/env python3
"""checkout_bench — `git checkout` that rewrites N notes → time until every
subscription is correct (issue 4's figure).

A vault of N meeting notes in a git repository: on branch `a` each meeting
links one of P people, on branch `b` every meeting links the next person
instead. One connection subscribes to `backlinks` of every person; the clock
starts just before `git checkout b` and stops when, for every person, an
update has arrived whose linked sources are exactly those of branch b.

Usage: QUIPUD=build/quipud python3 test/bench/checkout_bench.py [--notes 1000] [--people 20] [--runs 3]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import qp_harness as H  # noqa: E402


def git(vault, *args):
    subprocess.run(["git", "-C", vault] + list(args), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def meeting(i, person):
    return ("---\ntype: meeting\ndate: '2025-01-%02d'\nattendees:\n- \"[[%s]]\"\n---\n"
            "# Meeting %d\n\nDiscussed the plan with [[%s]].\n\n- [ ] follow up %d\n"
            % (i % 28 + 1, person, i, person, i))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--notes", type=int, default=1000)
    ap.add_argument("--people", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    people = ["Person %02d" % k for k in range(a.people)]
    times = []
    with tempfile.TemporaryDirectory(prefix="qp-checkout-") as tmp:
        vault = os.path.join(tmp, "vault")
        os.makedirs(os.path.join(vault, "People"))
        os.makedirs(os.path.join(vault, "Meetings"))
        for p in people:
            with open(os.path.join(vault, "People", p + ".md"), "w") as f:
                f.write("---\ntype: person\n---\n# %s\n" % p)
        git(vault, "init", "-q", "-b", "a")
        git(vault, "config", "user.email", "bench@quipu.invalid")
        git(vault, "config", "user.name", "bench")
        expect = {}
        for branch, shift in (("a", 0), ("b", 1)):
            if branch == "b":
                git(vault, "checkout", "-q", "-b", "b")
            want = {p: [] for p in people}
            for i in range(a.notes):
                p = people[(i + shift) % len(people)]
                path = "Meetings/%04d.md" % i
                with open(os.path.join(vault, path), "w") as f:
                    f.write(meeting(i, p))
                want[p].append(path)
            git(vault, "add", "-A")
            git(vault, "commit", "-q", "-m", branch)
            expect[branch] = {p: sorted(v) for p, v in want.items()}
        git(vault, "checkout", "-q", "a")
        with H.Daemon(vault=vault, timeout=120) as d, d.client(timeout=120) as c:
            subs = {}
            for p in people:
                r = c.request("subscribe", {"method": "backlinks",
                                            "params": {"note": "People/%s.md" % p}})
                subs[p] = r["subscription"]
            branch = "a"
            for _ in range(a.runs):
                branch = "b" if branch == "a" else "a"
                t0 = time.monotonic()
                git(vault, "checkout", "-q", branch)
                for p in people:
                    want = expect[branch][p]
                    c.wait_update(subs[p], lambda res, w=want:
                                  sorted(s["path"] for s in res["linked"]) == w, timeout=60)
                times.append(time.monotonic() - t0)
    print("git checkout rewriting %d notes, %d subscriptions: all correct after %s s "
          "(median %.3f s)" % (a.notes, len(people), ", ".join("%.3f" % t for t in times),
                               sorted(times)[len(times) // 2]))


if __name__ == "__main__":
    main()
