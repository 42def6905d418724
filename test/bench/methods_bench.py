#!/usr/bin/env python3
"""Latency of the completion and symbol methods through a running quipud.

    methods_bench.py --socket SOCK --vault DIR [--runs N]

Sends each request N times, one at a time over one connection, and prints
p50/p99 per request kind in milliseconds. The baseline, taken in the same
run on the same connection, is `resolve` of a person's name (one index
seek): the ratio says what the method costs beyond a round trip. Run the
daemon with --query-cache 0, or repeated requests are answered from the
cache. The prefixes are what a user types: "", one letter, a name being
typed letter by letter, a word inside names, a fuzzy abbreviation, a miss.
Python 3 standard library only.
"""

import argparse
import json
import os
import socket
import time


def percentile(xs, p):
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


class Conn:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile("rwb")
        self.id = 0

    def call(self, method, params):
        self.id += 1
        msg = {"jsonrpc": "2.0", "id": self.id, "method": method, "params": params}
        self.f.write((json.dumps(msg) + "\n").encode())
        self.f.flush()
        reply = json.loads(self.f.readline())
        if "error" in reply:
            raise RuntimeError("%s %s: %s" % (method, params, reply["error"]))
        return reply["result"]


def first_person(vault):
    names = sorted(os.listdir(os.path.join(vault, "People")))
    return names[len(names) // 2][:-3]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--socket", required=True)
    ap.add_argument("--vault", required=True)
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    c = Conn(args.socket)
    person = first_person(args.vault)
    first, last = person.split(" ", 1)
    typed = [person[:n] for n in range(1, len(person) + 1)]
    fuzzy = (first[:2] + last[:2]).lower()
    cases = [
        ("resolve (baseline)", "resolve", [{"link": person}]),
        ("complete.notes \"\"", "complete.notes", [{"prefix": ""}]),
        ("complete.notes 1 letter", "complete.notes", [{"prefix": person[:1]}]),
        ("complete.notes typing", "complete.notes", [{"prefix": p} for p in typed]),
        ("complete.notes word", "complete.notes", [{"prefix": last[:4]}]),
        ("complete.notes fuzzy", "complete.notes", [{"prefix": fuzzy}]),
        ("complete.notes miss", "complete.notes", [{"prefix": "zzqx"}]),
        ("complete.headings", "complete.headings", [{"note": person, "prefix": "re"}]),
        ("complete.tags", "complete.tags", [{"prefix": "ty"}]),
        ("symbols", "symbols", [{"note": person}]),
        ("symbols.search typing", "symbols.search", [{"query": p} for p in typed[:6]]),
        ("symbols.search word", "symbols.search", [{"query": last[:4]}]),
        ("symbols.search heading", "symbols.search", [{"query": "recent con"}]),
    ]
    status = c.call("status", {})
    print("vault %s: %d files; person %r; %d runs per case" %
          (args.vault, status["files"], person, args.runs))
    rows = []
    for label, method, plist in cases:
        times = []
        for i in range(args.runs):
            p = plist[i % len(plist)]
            t0 = time.perf_counter()
            c.call(method, p)
            times.append((time.perf_counter() - t0) * 1000.0)
        rows.append((label, percentile(times, 50), percentile(times, 99)))
    base = rows[0][2]
    print("%-28s %9s %9s %9s" % ("case", "p50 ms", "p99 ms", "p99/base"))
    for label, p50, p99 in rows:
        print("%-28s %9.2f %9.2f %9.1fx" % (label, p50, p99, p99 / base if base else 0))


if __name__ == "__main__":
    main()
