#!/usr/bin/env python3
"""lsp_bench — `quipu lsp` end to end on a generated vault, against the
ripgrep search obsidian.nvim runs for the same references.

    lsp_bench.py --build build --vault DIR --manifest FILE [--runs N] [--quipud PATH]

Starts quipud (from --build) on the vault with its own socket and index,
waits for the first scan, then drives `quipu lsp` over stdio with the base
protocol and times, per request, from the write of the request to the
read of its response: completion after `[[`, definition, references on the
busiest person (after its note's diagnostics, timed from didOpen, are
published), workspace/symbol, and diagnostics re-published after the note
a link misses is created on disk. Reports p50/p99 in ms, the server's
peak RSS (VmHWM), and the wall time of obsidian.nvim's backlinks search
(`rg --no-config --type=md --json --fixed-strings --ignore-case -e ...`
with the reference forms it builds; lua/obsidian/search.lua and
client.lua find_backlinks_async) on the same note, as a ratio."""

import argparse
import gc
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


class Lsp:
    def __init__(self, cmd, env):
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.msgs = []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.id = 0

    def _read(self):
        f = self.p.stdout
        while True:
            h = b""
            while not h.endswith(b"\r\n\r\n"):
                c = f.read(1)
                if not c:
                    return
                h += c
            n = int(h.split(b":")[1])
            body = f.read(n)
            t = time.perf_counter()  # the arrival, before Python decodes it
            m = json.loads(body)
            with self.cv:
                self.msgs.append((t, m))
                self.cv.notify_all()

    def send(self, m):
        b = json.dumps(m).encode()
        self.p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(b) + b)
        self.p.stdin.flush()

    def wait(self, pred, timeout=60):
        end = time.time() + timeout
        with self.cv:
            while True:
                for i, (t, m) in enumerate(self.msgs):
                    if pred(m):
                        del self.msgs[i]
                        return t, m
                if time.time() > end:
                    raise TimeoutError(json.dumps([m for _, m in self.msgs])[:500])
                self.cv.wait(0.5)

    def request(self, method, params):
        self.id += 1
        i = self.id
        t0 = time.perf_counter()
        self.send({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
        t, m = self.wait(lambda m: m.get("id") == i and "method" not in m)
        if "error" in m:
            raise RuntimeError(m["error"])
        return (t - t0) * 1000.0, m["result"]

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})


def main():
    # The answers here are megabytes of JSON made of small objects: with
    # the cyclic collector on, its passes over them (in the reader thread,
    # holding the interpreter) landed in whichever request was being timed
    # (+10-15 ms every few references). Nothing here makes cycles;
    # reference counting frees it all.
    gc.disable()
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--vault", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--quipud", help="the daemon to run (default: BUILD/quipud)")
    ap.add_argument("--socket", help="use the quipud already serving the vault on this socket")
    a = ap.parse_args()
    man = json.load(open(a.manifest))
    vault = os.path.realpath(a.vault)
    tmp = tempfile.mkdtemp(prefix="qp-lsp-bench-")
    sock = a.socket or os.path.join(tmp, "q.sock")
    d = None
    if not a.socket:
        d = subprocess.Popen([a.quipud or os.path.join(a.build, "quipud"), vault, "--socket", sock,
                              "--db", os.path.join(tmp, "db.sqlite3"), "--log-level", "warn",
                              "--rescan-interval", "0"])
    out = {"notes": man.get("notes")}
    try:
        t0 = time.time()
        while not os.path.exists(sock):
            time.sleep(0.05)
        st = subprocess.run([os.path.join(a.build, "quipu"), "--socket", sock, "status", "--wait"],
                            capture_output=True, text=True)
        out["scan_s"] = round(time.time() - t0, 1)
        env = dict(os.environ, QUIPU_SOCKET=sock)
        s = Lsp([os.path.join(a.build, "quipu"), "lsp"], env)
        uri_of = lambda rel: "file://" + urllib.parse.quote(os.path.join(vault, rel))
        s.request("initialize", {"capabilities": {}, "rootUri": "file://" + vault})
        s.notify("initialized", {})
        person = "People/%s.md" % man["top_person"]
        meeting = man["save_note"]
        mtext = open(os.path.join(vault, meeting), encoding="utf-8").read()
        s.notify("textDocument/didOpen", {"textDocument": {"uri": uri_of(meeting), "languageId": "markdown",
                                                           "version": 1, "text": mtext}})
        lines = mtext.split("\n")
        ln = next(i for i, l in enumerate(lines) if "[[" in l and not l.startswith("-"))
        ch = len(lines[ln][:lines[ln].index("[[") + 3].encode("utf-16-le")) // 2
        res = {}
        # definition
        res["definition"] = [s.request("textDocument/definition", {
            "textDocument": {"uri": uri_of(meeting)}, "position": {"line": ln, "character": ch}})[0]
            for _ in range(a.runs)]
        # references on the busiest person (from the person note itself)
        ptext = open(os.path.join(vault, person), encoding="utf-8").read()
        with s.cv:
            s.msgs.clear()
        t0 = time.perf_counter()
        s.notify("textDocument/didOpen", {"textDocument": {"uri": uri_of(person), "languageId": "markdown",
                                                           "version": 1, "text": ptext}})
        # Opening the person note publishes its diagnostics (its mentions,
        # the busiest of the vault) before the server reads the next
        # message: timed on its own, then references.
        t, m = s.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                      and m["params"]["uri"] == uri_of(person))
        out["person_open_diagnostics_ms"] = round((t - t0) * 1000.0, 1)
        out["person_diagnostics"] = len(m["params"]["diagnostics"])
        body = next(i for i, l in enumerate(ptext.split("\n")) if l.startswith("# "))
        refs = []
        nrefs = 0
        for _ in range(max(20, a.runs // 4)):
            ms, r = s.request("textDocument/references", {
                "textDocument": {"uri": uri_of(person)}, "position": {"line": body + 1, "character": 0},
                "context": {"includeDeclaration": False}})
            refs.append(ms)
            nrefs = len(r)
        res["references"] = refs
        out["references_count"] = nrefs
        # completion after [[ with a growing prefix
        # Prefixes of the people's names: every person note's file name.
        names = sorted(f[:-3] for f in os.listdir(os.path.join(vault, "People")))[:50]
        comp = []
        ver = 1
        end_line = len(lines)
        s.notify("textDocument/didChange", {"textDocument": {"uri": uri_of(meeting), "version": 2},
                                            "contentChanges": [{"range": {"start": {"line": end_line, "character": 0},
                                                                          "end": {"line": end_line, "character": 0}},
                                                                "text": "\n"}]})
        ver = 2
        for i in range(a.runs):
            nm = names[i % len(names)]
            pre = nm[: 1 + i % 4]
            ver += 1
            s.notify("textDocument/didChange", {"textDocument": {"uri": uri_of(meeting), "version": ver},
                                                "contentChanges": [{"range": {"start": {"line": end_line, "character": 0},
                                                                              "end": {"line": end_line, "character": 99}},
                                                                    "text": "[[" + pre}]})
            ms, r = s.request("textDocument/completion", {
                "textDocument": {"uri": uri_of(meeting)},
                "position": {"line": end_line, "character": 2 + len(pre)}})
            comp.append(ms)
        out["completion_items"] = len(r["items"])
        res["completion"] = comp
        # workspace/symbol
        ws = []
        for i in range(a.runs):
            q = names[i % len(names)][: 2 + i % 5]
            ms, r = s.request("workspace/symbol", {"query": q})
            ws.append(ms)
        res["workspace_symbol"] = ws
        # diagnostics re-published after the missing note is created
        rep = []
        for i in range(20):
            name = "Bench Missing %d" % i
            ver += 1
            s.notify("textDocument/didChange", {"textDocument": {"uri": uri_of(meeting), "version": ver},
                                                "contentChanges": [{"range": {"start": {"line": end_line, "character": 0},
                                                                              "end": {"line": end_line, "character": 99}},
                                                                    "text": "[[%s]]" % name}]})
            s.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                   and m["params"]["uri"] == uri_of(meeting)
                   and any(name in d["message"] for d in m["params"]["diagnostics"]))
            with s.cv:
                s.msgs.clear()
            t0 = time.perf_counter()
            with open(os.path.join(vault, name + ".md"), "w") as f:
                f.write("# %s\n" % name)
            t, m = s.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics"
                          and m["params"]["uri"] == uri_of(meeting)
                          and not any(name in d["message"] for d in m["params"]["diagnostics"]))
            rep.append((t - t0) * 1000.0)
        res["diagnostics_republish"] = rep
        for k, v in res.items():
            out[k] = {"p50": round(pct(v, 50), 2), "p99": round(pct(v, 99), 2), "n": len(v)}
        with open("/proc/%d/status" % s.p.pid) as f:
            for l in f:
                if l.startswith(("VmHWM", "VmRSS")):
                    out[l.split(":")[0]] = l.split(":")[1].strip()
        s.request("shutdown", None)
        s.notify("exit", {})
        s.p.wait(10)
        for i in range(20):
            os.unlink(os.path.join(vault, "Bench Missing %d.md" % i))
        # The same questions asked of quipud directly, in the same run: what
        # the server adds on top of the daemon.
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(sock)
        cf = c.makefile("rb")
        nid = [0]

        def direct(method, params):
            nid[0] += 1
            t0 = time.perf_counter()
            c.sendall((json.dumps({"jsonrpc": "2.0", "id": nid[0], "method": method,
                                   "params": params}) + "\n").encode())
            while True:
                m = json.loads(cf.readline())
                if m.get("id") == nid[0]:
                    return (time.perf_counter() - t0) * 1000.0
        stem = os.path.basename(person)[:-3]
        dres = {
            "resolve": [direct("resolve", {"link": stem, "from": meeting}) for _ in range(a.runs)],
            "backlinks": [direct("backlinks", {"note": person, "max_occurrences": 0})
                          for _ in range(max(20, a.runs // 4))],
            "backlinks.locations": [direct("backlinks.locations", {"note": person})
                                    for _ in range(max(20, a.runs // 4))],
            "complete.notes": [direct("complete.notes", {"prefix": names[i % len(names)][: 1 + i % 4],
                                                         "limit": 50}) for i in range(a.runs)],
            "symbols.search": [direct("symbols.search", {"query": names[i % len(names)][: 2 + i % 5],
                                                         "limit": 100}) for i in range(a.runs)],
        }
        c.close()
        out["daemon_direct"] = {k: {"p50": round(pct(v, 50), 2), "p99": round(pct(v, 99), 2)}
                                for k, v in dres.items()}
        # obsidian.nvim's backlinks search for the same note
        rg = shutil.which("rg")
        if rg:
            stem = os.path.basename(person)[:-3]
            refs_forms = []
            for raw in (stem, os.path.basename(person), person):
                for ref in {raw, urllib.parse.quote(raw), urllib.parse.quote(raw, safe="/")}:
                    refs_forms += ["[[%s]]" % ref, "[[%s|" % ref, "(%s)" % ref, "(/%s)" % ref,
                                   "[[%s#" % ref, "(%s#" % ref, "(/%s#" % ref]
            cmd = [rg, "--no-config", "--type=md", "--json", "--fixed-strings", "--ignore-case"]
            for t in dict.fromkeys(refs_forms):
                cmd += ["-e", t]
            cmd.append(vault)
            times = []
            for _ in range(10):
                t0 = time.perf_counter()
                r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                times.append((time.perf_counter() - t0) * 1000.0)
            matches = sum(1 for l in r.stdout.splitlines() if b'"type":"match"' in l)
            out["rg_obsidian_nvim"] = {"p50": round(pct(times, 50), 1), "min": round(min(times), 1),
                                       "match_lines": matches, "terms": len(dict.fromkeys(refs_forms))}
            out["rg_over_references_p50"] = round(pct(times, 50) / out["references"]["p50"], 1)
        print(json.dumps(out, indent=1))
    finally:
        if d is not None:
            d.send_signal(signal.SIGTERM)
            d.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
