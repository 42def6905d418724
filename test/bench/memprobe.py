#!/usr/bin/env python3
"""memprobe.py BUILD VAULT DB [--cold] [quipud options...]: quipud's memory
on the vault-wide task answers, or (--cold) while it builds a fresh index.

Starts BUILD/quipud on VAULT with the index DB (a warm start when DB
exists) and waits for ready. Then it asks the whole `not done / group by
filename / sort by due` answer and its first page of 100, three times
each, and prints each answer's size, the time the client saw, and
quipud's VmRSS/VmHWM after it. With --cold, DB is deleted first, VmRSS and
VmHWM are printed once a second until ready, and no query is asked.
docs/architecture.md's figures for task answers and for the scan's byte
bound come from this; run it once per build on the same vault to compare."""
import json
import os
import socket
import subprocess
import sys
import time

build, vault, db = sys.argv[1:4]
extra = sys.argv[4:]
cold = "--cold" in extra
extra = [a for a in extra if a != "--cold"]
if cold:
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(db + suffix)
        except FileNotFoundError:
            pass
sock = "/tmp/memprobe-%d.sock" % os.getpid()
t0 = time.monotonic()
p = subprocess.Popen([build + "/quipud", vault, "--socket", sock, "--db", db,
                      "--log-level", "warn"] + extra, stderr=subprocess.DEVNULL)


def vm(key):
    with open("/proc/%d/status" % p.pid) as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024.0
    return 0.0


def connect():
    for _ in range(6000):
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(sock)
            return s
        except OSError:
            time.sleep(0.05)
    raise SystemExit("no socket")


s = connect()
f = s.makefile("rb")
nid = [0]


def req(method, params):
    nid[0] += 1
    s.sendall((json.dumps({"jsonrpc": "2.0", "id": nid[0], "method": method,
                           "params": params}) + "\n").encode())
    return f.readline()


last = 0.0
while True:
    r = json.loads(req("status", {})).get("result", {})
    now = time.monotonic() - t0
    if r.get("state") == "ready":
        break
    if cold and now - last >= 1.0:
        print("%6.1f s files %-7s RSS %6.1f HWM %6.1f MB" %
              (now, r.get("files"), vm("VmRSS"), vm("VmHWM")), flush=True)
        last = now
    time.sleep(0.05)
print("ready %.2f s  RSS %.1f HWM %.1f MB" % (time.monotonic() - t0, vm("VmRSS"), vm("VmHWM")))
QUERY = {"query": "not done\ngroup by filename\nsort by due", "today": "2025-12-01"}
ASKS = [] if cold else [("tasks whole", QUERY), ("tasks page100", dict(QUERY, limit=100))]
for name, params in ASKS:
    for _ in range(3):
        t = time.monotonic()
        line = req("tasks.query", params)
        ms = (time.monotonic() - t) * 1000
        ok = b'"result"' in line[:80]
        print("%-14s %9d B %8.1f ms ok=%s  RSS %7.1f HWM %7.1f MB" %
              (name, len(line), ms, ok, vm("VmRSS"), vm("VmHWM")))
p.terminate()
p.wait()
