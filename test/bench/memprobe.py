#!/usr/bin/env python3
"""memprobe.py BUILD VAULT WORKDIR [--cold] [quipud options...]: quipud's
memory on the vault-wide task answers, or (--cold) while it builds a fresh
index.

Starts BUILD/quipud on VAULT with its index under WORKDIR (a warm start
when one is there) through bench.py's Quipud, and waits for ready. Then it
asks the whole `not done / group by filename / sort by due` answer and its
first page of 100, three times each, and prints each answer's size, the
time the client saw, and quipud's VmRSS/VmHWM after it. With --cold the
index is wiped first, VmRSS/VmHWM are printed once a second until ready,
and no query is asked. docs/architecture.md's figures for task answers and
for the scan's byte bound come from this; run it once per build on the
same vault to compare."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Conn, Quipud  # noqa: E402

MB = 1024 * 1024
QUERY = {"query": "not done\ngroup by filename\nsort by due", "today": "2025-12-01"}


def sample(q, t0, done):
    """Prints VmRSS/VmHWM once a second until `done` is set."""
    while not done.wait(1.0):
        if q.proc is not None and q.proc.poll() is None:
            print("%6.1f s RSS %6.1f HWM %6.1f MB" % (time.monotonic() - t0, q.vm("VmRSS") / MB,
                                                      q.vm("VmHWM") / MB), flush=True)


def main():
    build, vault, workdir = sys.argv[1:4]
    extra = sys.argv[4:]
    cold = "--cold" in extra
    extra = ["--log-level", "warn"] + [a for a in extra if a != "--cold"]
    q = Quipud(os.path.join(build, "quipud"), vault, workdir, extra)
    if cold:
        q.wipe_index()
    done = threading.Event()
    sampler = threading.Thread(target=sample, args=(q, time.monotonic(), done), daemon=True)
    if cold:
        sampler.start()
    try:
        secs, _, _ = q.start()
        done.set()
        print("ready %.2f s  RSS %.1f HWM %.1f MB" % (secs, q.vm("VmRSS") / MB, q.vm("VmHWM") / MB))
        asks = [] if cold else [("tasks whole", QUERY), ("tasks page100", dict(QUERY, limit=100))]
        conn = Conn(q.socket)
        for name, params in asks:
            for _ in range(3):
                _, req = conn.encode("tasks.query", params)
                t = time.monotonic()
                conn.sock.sendall(req)
                line = conn.line()
                ms = (time.monotonic() - t) * 1000
                ok = b'"result"' in line[:80]
                print("%-14s %9d B %8.1f ms ok=%s  RSS %7.1f HWM %7.1f MB" %
                      (name, len(line), ms, ok, q.vm("VmRSS") / MB, q.vm("VmHWM") / MB))
        conn.close()
    finally:
        done.set()
        q.stop()


if __name__ == "__main__":
    main()
