#!/usr/bin/env python3
"""ab.py — two builds of quipud side by side on one vault, alternating.

    ab.py cold   --a BUILD --b BUILD --vault DIR [--rounds N]
    ab.py answer --a BUILD --b BUILD --vault DIR --method M --params JSON...
                 [--requests N] [--rounds N] [--after-save]

`cold` times a cold index with each build in turn (as bench.py times it:
spawn until `status` says ready) and reports, per run, the CPU time, VmHWM
at ready, the largest the WAL grew (sampled every 0.2 s) and the index's
size at the end.

`answer` starts each build in turn on an index of its own (built once under
the work folder, then warm starts; with --shared-index one index for both,
which needs the same schema: answers that break ties by file id, as
symbols.search does, are only comparable on one index), with the answer
cache off, and times
each params object N times; with --after-save each request follows a save
of a note of the tool's own (removed at the end) and waits for its commit,
as bench.py's "first after a save" rows. It also says whether the two
builds gave byte-identical answers. Baselines are always the other build
of the same run: the machine is shared and noisy.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Conn, Quipud, pct  # noqa: E402

MB = 2 ** 20


def cold(args):
    for r in range(args.rounds):
        for name, build in (("a", args.a), ("b", args.b)):
            work = tempfile.mkdtemp(prefix="qp-ab-")
            q = Quipud(os.path.join(build, "quipud"), args.vault, work, ["--log-level", "warn"])
            wal, stop = [0], threading.Event()

            def sample():
                while not stop.wait(0.2):
                    try:
                        wal[0] = max(wal[0], os.path.getsize(q.db + "-wal"))
                    except OSError:
                        pass
            t = threading.Thread(target=sample)
            t.start()
            try:
                secs, _, cpu = q.start()
                stop.set()
                t.join()
                hwm = q.vm("VmHWM") / MB
                q.stop()
                size = q.index_bytes() / MB
            finally:
                stop.set()
                q.stop()
                shutil.rmtree(work, ignore_errors=True)
            print("round %d %s: cold %.2f s, cpu %.1f s, VmHWM at ready %.1f MB, largest WAL"
                  " %.0f MB, index %.0f MB" % (r + 1, name, secs, cpu, hwm, wal[0] / MB, size),
                  flush=True)


def one_request(conn, method, params):
    rid, req = conn.encode(method, params)
    t0 = time.perf_counter_ns()
    conn.sock.sendall(req)
    line = conn.line()
    return (time.perf_counter_ns() - t0) / 1e6, line


def save_and_wait(conn, path, i):
    gen = conn.call("status", {})["generation"]
    with open(path, "w") as f:
        f.write("# ab save %d\n" % i)
    deadline = time.monotonic() + 10
    while conn.call("status", {})["generation"] == gen:
        if time.monotonic() > deadline:
            raise RuntimeError("no commit after a save")
        time.sleep(0.002)


def answer(args):
    params = [json.loads(p) for p in args.params]
    work = tempfile.mkdtemp(prefix="qp-ab-")
    note = os.path.join(args.vault, "ab-after-save.md")
    times = {"a": [], "b": []}
    answers = {"a": [], "b": []}
    try:
        for r in range(args.rounds):
            for name, build in (("a", args.a), ("b", args.b)):
                q = Quipud(os.path.join(build, "quipud"), args.vault,
                           os.path.join(work, "shared" if args.shared_index else name),
                           ["--log-level", "warn", "--query-cache", "0"])
                q.start()
                try:
                    conn = Conn(q.socket)
                    got = []
                    for i, p in enumerate(params):
                        for k in range(args.requests):
                            if args.after_save:
                                save_and_wait(conn, note, i * args.requests + k)
                            ms, line = one_request(conn, args.method, p)
                            times[name].append(ms)
                        got.append(json.loads(line).get("result"))
                    if r == 0:
                        answers[name] = got
                    conn.close()
                finally:
                    q.stop()
                    if os.path.exists(note):
                        os.unlink(note)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for name in ("a", "b"):
        t = times[name]
        print("%s: %d requests, p50 %.2f ms, p99 %.2f ms" % (name, len(t), pct(t, 50), pct(t, 99)))
    print("same answers: %s" % (answers["a"] == answers["b"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("cold", "answer"))
    ap.add_argument("--a", required=True, help="the baseline build folder")
    ap.add_argument("--b", required=True, help="the build compared with it")
    ap.add_argument("--vault", required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--method")
    ap.add_argument("--params", nargs="*", default=[])
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--after-save", action="store_true")
    ap.add_argument("--shared-index", action="store_true")
    args = ap.parse_args()
    if args.mode == "cold":
        cold(args)
    else:
        if not args.method or not args.params:
            ap.error("answer needs --method and --params")
        answer(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
