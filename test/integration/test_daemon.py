"""quipud over its socket: every method, every error code, framing, pipelining,
socket hygiene, shutdown, slow and many clients. Subscriptions and file
changes are in test_daemon_watch.py."""

import json
import os
import signal
import socket
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_harness import Client, ConnectionClosed, Daemon, RpcError, quipud_path, run_tests  # noqa: E402

ANN = """---
type: person
name: Ann Veld
aliases:
- Annie
tags:
- type/person
---

# Ann Veld

## Recent Context
- 2025-03-02: Mentioned in: Kickoff
- 2025-01-01: Mentioned in: Old meeting that does not exist
"""

KICKOFF = """---
type: meeting
title: Kickoff
date: '2025-03-02'
attendees:
- "[[Ann Veld]]"
---

# Kickoff

Ann Veld presented the plan.

- [ ] send the deck 📅 2025-03-05
- [x] book a room
"""

REVIEW = """---
type: meeting
title: Review
date: '2025-04-10'
---

# Review

We asked [[Ann Veld|Ann]] about the budget.
"""

HOME = """# Home

Nothing links here except itself: [[Home#Top]].

```tasks
not done
```

```tasks
this is not a query
```
"""

FILES = {
    "People/Ann Veld.md": ANN,
    "Meetings/2025-03-02 Kickoff.md": KICKOFF,
    "Meetings/2025-04-10 Review.md": REVIEW,
    "Home.md": HOME,
    "Attachments/plan.pdf": b"%PDF-1.4 not really\n",
    "Inbox/call.md": "# Call\n\nTalked to Annie about `Ann Veld` and Ann Veld.\n",
}


def paths(sources):
    return [s["path"] for s in sources]


def test_cli_flags():
    exe = quipud_path()
    out = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("quipud "), out
    out = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--socket" in out.stdout and "--print-socket" in out.stdout
    out = subprocess.run([exe], capture_output=True, text=True)
    assert out.returncode == 2 and "usage" in out.stderr
    # A vault that is not there, or not a folder: one line naming the path once.
    out = subprocess.run([exe, "/nonexistent/vault/xyz"], capture_output=True, text=True)
    assert out.returncode == 1, out
    assert out.stderr == "quipud: /nonexistent/vault/xyz: vault: No such file or directory\n", out
    with tempfile.NamedTemporaryFile(suffix=".md") as f:
        out = subprocess.run([exe, f.name], capture_output=True, text=True)
        assert out.returncode == 1, out
        assert out.stderr == "quipud: %s: vault: not a directory\n" % f.name, out
    d = Daemon(start=False)
    try:
        env = dict(os.environ, XDG_RUNTIME_DIR=d.tmp)
        out = subprocess.run([exe, "--print-socket", d.vault], capture_output=True, text=True,
                             env=env)
        assert out.returncode == 0, out
        p = out.stdout.strip()
        assert p.startswith(os.path.join(d.tmp, "quipu", "vault-")) and p.endswith(".sock"), p
        assert len(os.path.basename(p)) == len("vault-12345678.sock"), p
    finally:
        d.cleanup()


def test_status_and_queries():
    with Daemon(files=FILES) as d:
        c = d.client()
        st = c.request("status", {})
        for k in ("version", "generation", "files", "notes", "tasks", "links",
                  "unresolved_links", "progress"):
            assert k in st, (k, st)
        assert st["protocol"] == 1
        assert st["state"] == "ready"
        assert st["vault"] == d.vault
        assert st["files"] == 6, st
        assert st["notes"] == {"person": 1, "meeting": 2, "other": 2}, st
        assert st["generation"] >= 1

        # status without params works too
        assert c.request("status")["files"] == 6

        n = c.request("note", {"note": "Ann Veld"})
        assert n["path"] == "People/Ann Veld.md" and n["kind"] == "person"
        assert n["title"] == "Ann Veld"
        assert n["aliases"] == ["Annie"], n["aliases"]
        n = c.request("note", {"note": "Meetings/2025-03-02 Kickoff.md"})
        assert n["kind"] == "meeting" and n["date"] == "2025-03-02" and n["title"] == "Kickoff"
        assert [t["line"] for t in n["tasks"]] == [13, 14], n["tasks"]

        assert c.request("resolve", {"link": "Ann Veld"}) == {"path": "People/Ann Veld.md"}
        assert c.request("resolve", {"link": "plan.pdf"}) == {"path": "Attachments/plan.pdf"}
        assert c.request("resolve", {"link": "Nobody"})["path"] is None

        b = c.request("backlinks", {"note": "Ann Veld"})
        assert b["path"] == "People/Ann Veld.md"
        assert paths(b["linked"]) == ["Meetings/2025-03-02 Kickoff.md",
                                      "Meetings/2025-04-10 Review.md"], b
        assert "unlinked" not in b
        rev = b["linked"][1]
        assert rev["kind"] == "meeting" and rev["title"] == "Review" and rev["date"] == "2025-04-10"
        assert rev["occurrences"][0]["line"] == 9 and rev["occurrences"][0]["column"] == 10, rev
        assert rev["occurrences"][0]["context"] == "We asked [[Ann Veld|Ann]] about the budget."
        b = c.request("backlinks", {"note": "Ann Veld", "unlinked": True})
        # a file that links the note is not an unlinked mention (links.md)
        assert paths(b["unlinked"]) == ["Inbox/call.md"], b["unlinked"]
        occ = b["unlinked"][0]["occurrences"]
        # the alias and the plain name; not the code span
        assert [(o["line"], o["column"]) for o in occ] == [(3, 11), (3, 38)], occ

        m = c.request("mentions", {"note": "Ann Veld"})
        assert paths(m["mentioned_in"]) == ["Meetings/2025-04-10 Review.md",
                                            "Meetings/2025-03-02 Kickoff.md"], m
        assert [x["path"] for x in m["listed"]] == ["Meetings/2025-03-02 Kickoff.md", None], m
        assert m["missing"] == ["Meetings/2025-04-10 Review.md"], m
        assert [x["title"] for x in m["stale"]] == ["Old meeting that does not exist"], m

        q = c.request("tasks.query", {"query": "not done", "today": "2025-03-01"})
        assert q["total"] == 1, q
        assert q["groups"][0]["names"] == []
        t = q["groups"][0]["tasks"][0]
        assert t["path"] == "Meetings/2025-03-02 Kickoff.md" and t["line"] == 13
        assert t["due"] == "2025-03-05" and t["status"]["type"] == "TODO", t

        blocks = c.request("tasks.blocks", {"note": "Home", "today": "2025-03-01"})
        assert [b["line"] for b in blocks] == [5, 9], blocks
        assert blocks[0]["result"]["total"] == 1, blocks[0]
        assert "error" in blocks[1], blocks[1]


def expect_error(c, method, params, code, kind):
    msg = c.call(method, params)
    assert "error" in msg, msg
    e = msg["error"]
    assert e["code"] == code and e["data"]["kind"] == kind, msg
    assert msg["id"] is not None
    return e


def test_error_codes():
    with Daemon(files=FILES, args=["--max-message", "4096"]) as d:
        c = d.client()
        expect_error(c, "frobnicate", {}, -32601, "method_not_found")
        expect_error(c, "note", {}, -32602, "invalid_params")
        expect_error(c, "note", {"note": 5}, -32602, "invalid_params")
        expect_error(c, "note", {"note": "Nobody at all"}, -32001, "not_found")
        expect_error(c, "backlinks", {"note": "Nobody at all"}, -32001, "not_found")
        e = expect_error(c, "tasks.query", {"query": "not done\nfrobnicate the tasks"}, -32002,
                         "query_error")
        assert e["data"]["line"] == 2 and e["data"]["message"], e
        expect_error(c, "subscribe", {"method": "subscribe", "params": {}}, -32602,
                     "invalid_params")
        expect_error(c, "unsubscribe", {"subscription": 999}, -32602, "invalid_params")

        # -32700: the connection stays open
        c.send_raw(b'{"jsonrpc":"2.0","id":1,\n')
        m = c.read_message()
        assert m["error"]["code"] == -32700 and m["id"] is None, m
        assert m["error"]["data"]["kind"] == "parse_error"
        c.send_raw(b'{"jsonrpc":"2.0","id":2,"method":"st\xffatus"}\n')  # invalid UTF-8
        assert c.read_message()["error"]["code"] == -32700
        assert c.request("status")["state"] == "ready"

        # -32600: not a request; batches; the connection stays open
        c.send_raw(b'{"id":7,"method":"status"}\n')
        m = c.read_message()
        assert m["error"]["code"] == -32600 and m["id"] == 7, m
        assert m["error"]["data"]["kind"] == "invalid_request"
        c.send_raw(b'[{"jsonrpc":"2.0","id":8,"method":"status"}]\n')
        m = c.read_message()
        assert m["error"]["code"] == -32600 and m["id"] is None, m
        c.send_raw(b'{"jsonrpc":"2.0","id":{"x":1},"method":"status"}\n')
        assert c.read_message()["error"]["code"] == -32600
        assert c.request("status")["state"] == "ready"

        # a notification (no id) gets no answer
        c.send_raw(b'{"jsonrpc":"2.0","method":"status"}\n')
        assert c.request("resolve", {"link": "Ann Veld"})["path"] == "People/Ann Veld.md"

        # over the size limit: -32600, then the connection is closed
        big = Client(d.socket)
        big.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"status","params":{"x":"' +
                     b"a" * 10000 + b'"}}\n')
        m = big.read_message()
        assert m["error"]["code"] == -32600 and m["error"]["data"]["kind"] == "invalid_request"
        try:
            big.read_message(timeout=5)
            assert False, "connection should be closed"
        except ConnectionClosed:
            pass
        big.close()
        # others are unaffected
        assert c.request("status")["state"] == "ready"


def test_pipelining_and_framing():
    with Daemon(files=FILES) as d:
        c = d.client()
        ids = []
        # 200 requests in one write, mixed methods and string/int ids
        lines = []
        for i in range(200):
            rid = i if i % 2 else "r%d" % i
            method, params = [("status", {}), ("resolve", {"link": "Ann Veld"}),
                              ("backlinks", {"note": "Ann Veld"}),
                              ("note", {"note": "Nobody"})][i % 4]
            lines.append(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                                     "params": params}))
            ids.append((rid, method))
        c.send_raw("\n".join(lines) + "\n")
        for rid, method in ids:
            m = c.response(rid)
            if method == "note":
                assert m["error"]["code"] == -32001
            elif method == "resolve":
                assert m["result"] == {"path": "People/Ann Veld.md"}
            elif method == "backlinks":
                assert len(m["result"]["linked"]) == 2
            else:
                assert m["result"]["state"] == "ready"
        # a request split over many writes, CRLF terminated
        req = json.dumps({"jsonrpc": "2.0", "id": "split", "method": "resolve",
                          "params": {"link": "2025-03-02 Kickoff"}}).encode() + b"\r\n"
        for i in range(0, len(req), 7):
            c.send_raw(req[i:i + 7])
            time.sleep(0.002)
        assert c.response("split")["result"]["path"] == "Meetings/2025-03-02 Kickoff.md"


def test_socket_permissions_and_two_daemons():
    with Daemon(files=FILES) as d:
        assert os.stat(d.socket).st_mode & 0o777 == 0o600
        assert os.stat(os.path.dirname(d.socket)).st_mode & 0o777 == 0o700
        # a second daemon on the same socket: exit 1 with the message
        other_db = os.path.join(d.tmp, "other.sqlite3")
        out = subprocess.run([quipud_path(), d.vault, "--socket", d.socket, "--db", other_db],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 1, out
        assert "another quipud is serving %s on %s" % (d.vault, d.socket) in out.stderr, out.stderr
        # the first one still serves, and its socket was not removed
        assert d.client().request("status")["state"] == "ready"


def test_stale_socket_removed():
    d = Daemon(files=FILES, start=False)
    try:
        os.makedirs(os.path.dirname(d.socket), mode=0o700)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(d.socket)  # bound, never listening, closed: what a crash leaves
        s.close()
        assert os.path.exists(d.socket)
        d.start()
        assert d.client().request("status")["state"] == "ready"
        assert "stale socket" in d.stderr()
    finally:
        d.cleanup()


def test_sigterm_and_sigint_exit_cleanly():
    for sig in (signal.SIGTERM, signal.SIGINT):
        d = Daemon(files=FILES)
        try:
            c = d.client()
            sub = c.request("subscribe", {"method": "status", "params": {}})
            assert sub["result"]["state"] == "ready"
            d.send_signal(sig)
            rc = d.wait()
            assert rc == 0, (rc, d.stderr())
            assert not os.path.exists(d.socket), "socket left behind"
            assert not os.path.exists(d.socket + ".lock"), "lock left behind"
            assert "event loop not empty" not in d.stderr()
            d.proc = None
        finally:
            d.cleanup()


def test_restart_keeps_index():
    d = Daemon(files=FILES)
    try:
        gen = d.client().request("status")["generation"]
        assert d.stop() == 0
        d.write("New.md", "[[Ann Veld]]\n")
        d.remove("Home.md")
        d.start()
        st = d.client().request("status")
        assert st["files"] == 6 and st["generation"] > gen, st
        b = d.client().request("backlinks", {"note": "Ann Veld"})
        assert "New.md" in paths(b["linked"])
        assert "scan: 6 files, 1 changed, 1 removed" in d.stderr(), d.stderr()
    finally:
        d.cleanup()


def test_slow_client_cut_off():
    files = dict(FILES)
    files["Big.md"] = "# Big\n\n" + "".join(
        "- %d: [[Ann Veld]] said something that makes this line and the answer long\n" % i
        for i in range(3000))
    with Daemon(files=files, args=["--max-output", "262144"]) as d:
        slow = Client(d.socket)
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        good = d.client()
        req = (json.dumps({"jsonrpc": "2.0", "id": 1, "method": "backlinks",
                           "params": {"note": "Ann Veld"}}) + "\n").encode()
        assert len(good.request("backlinks", {"note": "Ann Veld"})["linked"]) == 3
        # each answer is ~300 KB; the slow client never reads them
        try:
            for _ in range(100):
                slow.send_raw(req)
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.monotonic() + 30
        while "disconnecting it" not in d.stderr() and time.monotonic() < deadline:
            # the other client keeps being served meanwhile
            assert good.request("status")["state"] == "ready"
        assert "disconnecting it" in d.stderr(), "slow client was not cut off"
        # the slow client sees the end of its stream after what was sent
        slow.sock.settimeout(10)
        try:
            while slow.sock.recv(1 << 20):
                pass
        except ConnectionResetError:
            pass
        assert good.request("resolve", {"link": "Big"})["path"] == "Big.md"
        slow.close()


def test_one_answer_larger_than_max_output():
    """--max-output bounds what a client leaves unread, not one answer: a
    client that reads gets a ~300 KB answer whole under a 4 KiB limit."""
    files = dict(FILES)
    files["Big.md"] = "# Big\n\n" + "".join(
        "- %d: [[Ann Veld]] said something that makes this line and the answer long\n" % i
        for i in range(3000))
    with Daemon(files=files, args=["--max-output", "4096"]) as d:
        c = d.client()
        b = c.request("backlinks", {"note": "Ann Veld", "max_occurrences": 0})
        assert [s["path"] for s in b["linked"]].count("Big.md") == 1, b["linked"]
        assert len(json.dumps(b)) > 100000, len(json.dumps(b))
        assert c.request("status")["state"] == "ready"
        assert "disconnecting it" not in d.stderr(), d.stderr()[-2000:]


def test_subscriber_cut_off_by_its_own_update():
    """A subscriber that does not read is cut off by the update that takes
    it over --max-output; the subscription is ended while its re-run is
    still being delivered, and the daemon keeps serving."""
    files = dict(FILES)
    line = "- [[Ann Veld]] said something that makes this line and the answer long\n"
    for i in range(20):
        files["Flood/f%02d.md" % i] = "# F\n\n" + line * 40
    with Daemon(files=files, args=["--max-output", "65536"]) as d:
        slow = Client(d.socket)
        slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.send("subscribe", {"method": "backlinks", "params": {"note": "Ann Veld"}}, id=1)
        good = d.client()
        i = 0
        deadline = time.monotonic() + 60
        while "disconnecting it" not in d.stderr() and time.monotonic() < deadline:
            d.write("Flood/f%02d.md" % (i % 20), "# F\n\n" + line * (40 + i))
            i += 1
            time.sleep(0.02)
            assert d.proc.poll() is None, d.stderr()[-3000:]
        assert "disconnecting it" in d.stderr(), "the subscriber was not cut off"
        for _ in range(3):  # more commits: no re-run of the ended subscription
            d.write("Flood/f00.md", "# F\n\n" + line * (100 + i))
            i += 1
            time.sleep(0.1)
        assert d.proc.poll() is None, d.stderr()[-3000:]
        b = good.request("backlinks", {"note": "Ann Veld"})
        assert len(b["linked"]) == 22, len(b["linked"])
        slow.close()


def test_index_damaged_while_running_is_rebuilt():
    """The index files are overwritten with junk under a running daemon: the
    next query or write meets the damage, quipud logs it, deletes and
    rebuilds the index, rescans, and answers as before; status says
    "scanning" meanwhile and its generation never goes back."""
    files = dict(FILES)
    for i in range(300):
        files["Bulk/n%03d.md" % i] = "# N%d\n\nMet [[Ann Veld]] about item %d.\n" % (i, i) + \
            "filler line to make pages\n" * 20
    with Daemon(files=files, args=["--rescan-interval", "0"]) as d:
        c = d.client(timeout=60)
        before = c.request("status")
        assert before["files"] == 306, before
        for path in (d.db, d.db + "-wal"):  # every page but the first
            if not os.path.exists(path):
                continue
            with open(path, "r+b") as f:
                size = os.path.getsize(path)
                for off in range(4096, size, 4096):
                    f.seek(off)
                    f.write(os.urandom(min(4096, size - off)))
        # a write makes every connection read pages again
        d.write("Inbox/after.md", "# After\n\n[[Ann Veld]] again.\n")
        deadline = time.monotonic() + 60
        while "rebuilding it" not in d.stderr():
            assert time.monotonic() < deadline, d.stderr()[-3000:]
            assert d.proc.poll() is None, d.stderr()[-3000:]
            try:  # queries keep getting answers (errors while damaged)
                c.call("backlinks", {"note": "Ann Veld"}, timeout=30)
            except ConnectionClosed:
                raise AssertionError(d.stderr()[-3000:])
            time.sleep(0.02)
        gens = []
        while True:
            st = c.request("status")
            gens.append(st["generation"])
            if st["state"] == "ready" and st["pending"] == 0 and st["files"] == 307:
                break
            assert time.monotonic() < deadline, (st, d.stderr()[-3000:])
            time.sleep(0.02)
        assert gens == sorted(gens) and gens[-1] > before["generation"], gens
        b = c.request("backlinks", {"note": "Ann Veld"})
        assert len(b["linked"]) == 303, len(b["linked"])
        assert "Inbox/after.md" in paths(b["linked"])
        log = d.stderr()
        assert "index rebuilt" in log, log[-3000:]
        # still live: a later change is indexed
        d.write("Inbox/later.md", "# Later\n\n[[Ann Veld]].\n")
        deadline = time.monotonic() + 20
        while len(c.request("backlinks", {"note": "Ann Veld"})["linked"]) != 304:
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_256_clients():
    with Daemon(files=FILES) as d:
        clients = [Client(d.socket) for _ in range(256)]
        try:
            for i, c in enumerate(clients):
                c.send("backlinks" if i % 2 else "status",
                       {"note": "Ann Veld"} if i % 2 else {}, id=i)
            for i, c in enumerate(clients):
                m = c.response(i, timeout=30)
                assert "result" in m, m
                if i % 2:
                    assert len(m["result"]["linked"]) == 2
        finally:
            for c in clients:
                c.close()
        assert d.client().request("status")["state"] == "ready"


def test_scanning_state_and_progress():
    files = {"People/Ann Veld.md": ANN}
    for i in range(1500):
        files["Meetings/m%04d.md" % i] = ("---\ntype: meeting\ndate: '2025-01-%02d'\n---\n"
                                           "# M%d\n\n[[Ann Veld]] and notes %d\n"
                                           % (i % 28 + 1, i, i))
    d = Daemon(files=files, wait_ready=False)
    try:
        c = d.client()
        sub = c.request("subscribe", {"method": "status", "params": {}})
        states = [sub["result"]["state"]]
        last = sub["result"]
        while last["state"] != "ready":
            last = c.wait_update(sub["subscription"], timeout=60)["result"]
            states.append(last["state"])
            p = last["progress"]
            assert p["done"] <= p["total"] or p["total"] == 0, p
        assert last["files"] == 1501, last
        # queries answered while scanning and after
        assert len(c.request("backlinks", {"note": "Ann Veld"})["linked"]) == 1500
    finally:
        d.cleanup()


def linked_paths(result):
    return sorted(x["path"] for x in result["linked"])


def test_cached_answers_follow_commits():
    """Answers are cached per index generation: repeated and pipelined
    requests get the same answer, and the first request after a commit sees
    the commit (never a cached answer of the generation before)."""
    for args in ([], ["--query-cache", "0"]):
        with Daemon(files=FILES, args=args) as d:
            c = d.client()
            first = c.request("backlinks", {"note": "Ann Veld"})
            assert linked_paths(first) == ["Meetings/2025-03-02 Kickoff.md",
                                           "Meetings/2025-04-10 Review.md"], first
            for i in range(50):  # pipelined; most are answered from the cache
                c.send("backlinks", {"note": "Ann Veld"}, id=1000 + i)
            for i in range(50):
                assert c.response(1000 + i, timeout=30)["result"] == first
            gen = c.request("status")["generation"]
            for n in range(3):
                # Atomically: an in-place write can be read between its
                # truncate and its write, and that empty note is a commit too.
                d.write_atomic("Inbox/new%d.md" % n, "# New\n\nMet [[Ann Veld]] again.\n")
                deadline = time.monotonic() + 10
                while c.request("status")["generation"] == gen:
                    assert time.monotonic() < deadline, "no commit"
                    time.sleep(0.01)
                gen = c.request("status")["generation"]
                got = linked_paths(c.request("backlinks", {"note": "Ann Veld"}))
                want = sorted(["Meetings/2025-03-02 Kickoff.md", "Meetings/2025-04-10 Review.md"]
                              + ["Inbox/new%d.md" % k for k in range(n + 1)])
                assert got == want, (args, n, got)
            # a different question is never answered with another one's result
            assert c.request("backlinks", {"note": "Home"})["linked"] == []
            for _ in range(2):
                assert c.request("resolve", {"link": "plan.pdf"}) == {"path": "Attachments/plan.pdf"}
                assert c.request("resolve", {"link": "Ann Veld"}) == {"path": "People/Ann Veld.md"}
            # Task answers are cached too (by params and, without `today`,
            # the local date): a commit that adds a task is seen at once.
            q = {"query": "not done\npath includes Inbox"}
            dated = dict(q, today=time.strftime("%Y-%m-%d"))
            assert c.request("tasks.query", q)["total"] == 0
            assert c.request("tasks.query", dated)["total"] == 0
            gen = c.request("status")["generation"]
            d.write_atomic("Inbox/todo.md", "# Todo\n\n- [ ] call [[Ann Veld]]\n")
            deadline = time.monotonic() + 10
            while c.request("status")["generation"] == gen:
                assert time.monotonic() < deadline, "no commit"
                time.sleep(0.01)
            for params in (q, dated, q):
                got = c.request("tasks.query", params)
                assert got["total"] == 1, (args, params, got)
                assert got["groups"][0]["tasks"][0]["description"] == "call [[Ann Veld]]", got


def test_successor_daemon_keeps_its_socket():
    # A stopping quipud must not remove the socket of one started right after
    # it (the Neovim plugin autostarts one): libuv unlinks the path when the
    # listening handle closes, and quipud used to unlink it again at exit,
    # by which time the successor had bound a new socket there.
    tmp = tempfile.mkdtemp(prefix="qp-successor-")
    vault = os.path.join(tmp, "vault")
    files = {"N%04d.md" % i: "# N%d\n[[N%04d]]\n" % (i, i + 1) for i in range(3000)}
    overlapped = 0
    try:
        seed = Daemon(vault=vault, files=files, start=False)
        seed.cleanup()
        # At least 4 attempts and until one overlapped (the first daemon
        # still running when the second bound): whether the window opens is
        # up to the scheduler, so a loaded or a quiet machine may need more.
        for attempt in range(20):
            if attempt >= 4 and overlapped > 0:
                break
            # A cold index: the first daemon is busy writing when told to stop.
            a = Daemon(vault=vault, wait_ready=False)
            b = Daemon(vault=vault, start=False)
            b.socket = a.socket
            try:
                a.send_signal(signal.SIGTERM)
                deadline = time.monotonic() + 10
                while os.path.exists(a.socket) and time.monotonic() < deadline:
                    time.sleep(0.001)
                b.start(wait_ready=False)
                if a.proc.poll() is None:
                    overlapped += 1
                assert a.wait() == 0, a.stderr()[-3000:]
                a.proc = None
                assert os.path.exists(b.socket), "the successor's socket was removed"
                with Client(b.socket) as c:
                    assert c.request("status")["vault"] == os.path.realpath(vault)
            finally:
                a.cleanup()
                b.cleanup()
        assert overlapped > 0, "the first daemon always exited before the second bound"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_status_subscription_right_after_restart_sees_ready():
    # issue 17 bug 1: on an already indexed vault, a status subscription whose
    # first run saw "scanning" and that registered after the scan ended
    # (ready without a commit) was never pushed "ready"; with
    # --rescan-interval 0 `quipu status --wait` then waited forever.
    files = {"P%03d.md" % i: "# P%d\n[[P%03d]]\n" % (i, i + 1) for i in range(300)}
    d = Daemon(files=files, args=["--rescan-interval", "0"])
    saw_scanning = 0
    try:
        assert d.stop() == 0
        for i in range(30):
            d.start(wait_ready=False)
            with Client(d.socket, timeout=10) as c:
                sub = c.request("subscribe", {"method": "status", "params": {}})
                if sub["result"]["state"] != "ready":
                    saw_scanning += 1
                    c.wait_update(sub["subscription"], lambda r: r["state"] == "ready",
                                  timeout=10)
            assert d.stop() == 0
        print("  (%d of 30 first answers said scanning)" % saw_scanning)
    finally:
        d.cleanup()


def test_vault_wide_tasks_follow_commits_under_load():
    """Vault-wide task queries (answered from the shared task catalogue)
    from six clients at once while notes with tasks are saved: no errors,
    each answer whole (its groups hold `total` tasks), each client's totals
    never go back, and after the last commit every new task is there, in
    its note's group, in line order."""
    import threading
    q = {"query": "not done\ngroup by filename\nsort by due", "today": "2025-03-01"}
    with Daemon(files=FILES, args=["--query-cache", "0"]) as d:
        c = d.client()
        assert c.request("tasks.query", q)["total"] == 1
        stop, failures = threading.Event(), []

        def ask():
            cl, last = Client(d.socket), 0
            try:
                while not stop.is_set():
                    r = cl.request("tasks.query", q)
                    shown = sum(len(g["tasks"]) for g in r["groups"])
                    if shown != r["total"] or r["total"] < last:
                        failures.append((last, r["total"], shown))
                    last = r["total"]
            except Exception as e:  # noqa: BLE001 - reported below
                failures.append(repr(e))
            finally:
                cl.close()
        threads = [threading.Thread(target=ask) for _ in range(6)]
        for t in threads:
            t.start()
        try:
            for n in range(12):
                gen = c.request("status")["generation"]
                d.write_atomic("Todo/list%02d.md" % n,
                               "# List %d\n\n- [ ] first of %d\n- [x] done %d\n"
                               "- [ ] second of %d \U0001F4C5 2025-03-%02d\n" % (n, n, n, n, n + 1))
                deadline = time.monotonic() + 10
                while c.request("status")["generation"] == gen:
                    assert time.monotonic() < deadline, "no commit"
                    time.sleep(0.01)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        assert failures == [], failures[:5]
        r = c.request("tasks.query", q)
        assert r["total"] == 1 + 24, r["total"]
        groups = {tuple(g["names"]): g["tasks"] for g in r["groups"]}
        for n in range(12):
            ts = groups[("[[list%02d]]" % n,)]
            assert [(t["line"], t["description"]) for t in ts] == \
                [(5, "second of %d" % n), (3, "first of %d" % n)], ts


if __name__ == "__main__":
    run_tests(globals())
