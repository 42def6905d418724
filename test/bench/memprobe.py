#!/usr/bin/env python3
"""memprobe.py BUILD VAULT DB [quipud options...]: memory and time of the
vault-wide task answers. Starts BUILD/quipud on VAULT with the index DB
(a warm start when DB exists), waits for ready, asks the whole `not done /
group by filename / sort by due` answer and its first page of 100 three
times each, and prints each answer's size, the time the client saw and
quipud's VmRSS/VmHWM after it. Used for docs/architecture.md ("Task answers
are text"); run it once per build on the same index to compare."""
import json, os, socket, subprocess, sys, time

build, vault, db = sys.argv[1:4]
extra = sys.argv[4:]
sock = "/tmp/memprobe-%d.sock" % os.getpid()
p = subprocess.Popen([build + "/quipud", vault, "--socket", sock, "--db", db,
                      "--log-level", "warn"] + extra, stderr=subprocess.DEVNULL)

def vm(key):
    for line in open("/proc/%d/status" % p.pid):
        if line.startswith(key):
            return int(line.split()[1]) / 1024.0
    return 0.0

def connect():
    for _ in range(6000):
        try:
            s = socket.socket(socket.AF_UNIX); s.connect(sock); return s
        except OSError:
            time.sleep(0.05)
    raise SystemExit("no socket")

s = connect()
f = s.makefile("rb")
nid = [0]
def req(method, params):
    nid[0] += 1
    s.sendall((json.dumps({"jsonrpc": "2.0", "id": nid[0], "method": method, "params": params}) + "\n").encode())
    line = f.readline()
    return line

t0 = time.monotonic()
while True:
    r = json.loads(req("status", {}))
    if r.get("result", {}).get("state") == "ready":
        break
    time.sleep(0.05)
print("ready %.2f s  RSS %.1f HWM %.1f MB" % (time.monotonic() - t0, vm("VmRSS"), vm("VmHWM")))
Q = [
    ("tasks whole", "tasks.query", {"query": "not done\ngroup by filename\nsort by due", "today": "2025-12-01"}),
    ("tasks page100", "tasks.query", {"query": "not done\ngroup by filename\nsort by due", "today": "2025-12-01", "limit": 100}),
]
for name, m, prm in Q:
    for i in range(3):
        t = time.monotonic()
        line = req(m, prm)
        dt = (time.monotonic() - t) * 1000
        ok = b'"result"' in line[:80]
        print("%-14s %9d B %8.1f ms ok=%s  RSS %7.1f HWM %7.1f MB" % (name, len(line), dt, ok, vm("VmRSS"), vm("VmHWM")))
p.terminate(); p.wait()
