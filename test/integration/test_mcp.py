"""`quipu mcp` against a real quipud.

The official MCP TypeScript SDK client (test/integration/mcp-client, pinned
by its package-lock.json, installed with `npm ci` under the build tree, not
the source tree) drives the server through every tool, valid and invalid,
the resources (list, read, subscribe and the update after an edit on disk)
and the write tools with and without --allow-write. Hostile input that no
SDK sends (malformed JSON, batches, requests before initialize, unknown
methods, a line over the size limit, paths leaving the vault) is written
raw here. And `quipu mcp` starts the vault's quipud when none runs.
Expected values are worked out by hand from the vault below."""

import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_harness import SOURCE_DIR, Daemon, quipu_path, quipud_path, run_tests  # noqa: E402

CLIENT_SRC = os.path.join(SOURCE_DIR, "test", "integration", "mcp-client")

ANN = """---
type: person
name: Ann Lee
aliases:
- Annie
---

# Ann Lee

## Recent Context

- 2025-03-04: Mentioned in: Roadmap sync
- 2024-12-01: Mentioned in: Old offsite

## Tasks

```tasks
not done
```
"""

ROADMAP = """---
type: meeting
title: Roadmap sync
date: '2025-03-04'
---

# Roadmap sync

[[Ann Lee]] presented the roadmap.

- [ ] Send the deck to [[Ann Lee]] 📅 2025-03-10 ⏫
- [x] Book the room ✅ 2025-03-03
"""

HIRING = """---
type: meeting
title: Hiring
date: '2025-02-10'
---

# Hiring

Ann Lee will interview candidates.

- [ ] Write the job post 📅 2025-02-20
"""

FILES = {
    ".obsidian/app.json": "{}\n",
    "People/Ann Lee.md": ANN,
    "Meetings/Roadmap sync.md": ROADMAP,
    "Meetings/Hiring.md": HIRING,
    "Ideas.md": "# Ideas\n\nTalk to [[Ann Lee|Ann]] about [[Missing Page]].\n",
}


def client_dir():
    """The SDK client installed under the build tree (npm ci, once)."""
    build = os.path.dirname(os.path.realpath(quipu_path()))
    d = os.path.join(build, "mcp-client")
    stamp = os.path.join(d, "node_modules", ".package-lock.json")
    lock = os.path.join(CLIENT_SRC, "package-lock.json")
    os.makedirs(d, exist_ok=True)
    for f in ("package.json", "package-lock.json", "test.mjs"):
        shutil.copyfile(os.path.join(CLIENT_SRC, f), os.path.join(d, f))
    if not os.path.exists(stamp) or os.path.getmtime(stamp) < os.path.getmtime(lock):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=d,
                       check=True, timeout=600)
    return d


def run_sdk(mode):
    with Daemon(files=FILES) as d:
        env = dict(os.environ, QUIPU=quipu_path(), VAULT=d.vault, MODE=mode,
                   QUIPU_SOCKET=d.socket,
                   SEARCH_DOC=os.path.join(SOURCE_DIR, "docs", "search.md"))
        p = subprocess.run(["node", "test.mjs"], cwd=client_dir(), env=env,
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            raise AssertionError("SDK client (%s) failed:\n%s\n%s" % (mode, p.stdout, p.stderr))
        report = json.loads(p.stdout.strip().splitlines()[-1])
        print("  %s: %s" % (mode, ", ".join("%s %d ms" % (c["name"], c["ms"])
                                            for c in report["checks"])))
        return report, p.stderr


def test_sdk_read_only():
    report, _ = run_sdk("read")
    print("  notifications/resources/updated %d ms after the edit" % report["update_ms"])
    assert report["update_ms"] < 3000, report


def test_sdk_write():
    _, stderr = run_sdk("write")
    # Every write is logged.
    for want in ("create_note Inbox/New idea.md", "append_to_note Inbox/New idea.md",
                 "add_mentions People/Ann Lee.md",
                 "rename_note People/Ann Lee.md: renamed to People/Ann Smith.md (3 links in 2 "
                 "files)"):
        assert "quipu mcp: " + want in stderr, stderr
    # The refused rename (a file edited after planning) logs no write.
    assert "rename_note People/Ann Smith.md" not in stderr, stderr


class Raw:
    """`quipu mcp` spoken to line by line."""

    def __init__(self, d, args=()):
        env = dict(os.environ, QUIPU_SOCKET=d.socket)
        self.p = subprocess.Popen([quipu_path(), "mcp", *args], cwd=d.vault, env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        self.buf = b""  # read from the pipe itself, so select() sees what is unread

    def send(self, data):
        self.p.stdin.write(data if isinstance(data, bytes) else data.encode())
        self.p.stdin.flush()

    def recv(self, timeout=30):
        """The next message; fails after `timeout` seconds without one."""
        while b"\n" not in self.buf:
            ready, _, _ = select.select([self.p.stdout.fileno()], [], [], timeout)
            assert ready, "no message from quipu mcp within %d s" % timeout
            chunk = os.read(self.p.stdout.fileno(), 1 << 20)
            assert chunk, "quipu mcp closed its output"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def ask(self, obj):
        self.send(json.dumps(obj) + "\n")
        return self.recv()

    def until_ping(self, id="sync"):
        """Sends a ping; returns every message that came before its answer
        (what earlier lines got, and notifications), in order."""
        self.send(json.dumps({"jsonrpc": "2.0", "id": id, "method": "ping"}) + "\n")
        got = []
        while True:
            msg = self.recv()
            if msg.get("id") == id and "result" in msg:
                return got
            got.append(msg)

    def close(self):
        self.p.stdin.close()
        assert self.p.wait(timeout=10) == 0


def init(r, version="2025-11-25"):
    return r.ask({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                  "params": {"protocolVersion": version, "capabilities": {},
                             "clientInfo": {"name": "raw", "version": "0"}}})


def test_hostile_input():
    with Daemon(files=FILES) as d:
        r = Raw(d)
        # Before initialize: ping only.
        assert r.ask({"jsonrpc": "2.0", "id": 1, "method": "ping"}) == \
            {"jsonrpc": "2.0", "id": 1, "result": {}}
        e = r.ask({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        assert e["error"]["code"] == -32600 and "initialize" in e["error"]["message"], e
        # Garbage, batches, bad ids, bad params: errors, and it keeps serving.
        r.send("{this is not json\n")
        assert r.recv()["error"]["code"] == -32700
        r.send(b"\xff\xfe\n")
        assert r.recv()["error"]["code"] == -32700
        assert r.ask([{"jsonrpc": "2.0", "id": 3, "method": "ping"}])["error"]["code"] == -32600
        assert r.ask({"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"}) == \
            {"jsonrpc": "2.0", "id": None, "error": {"code": -32600,
                                                    "message": "id must be a string or an integer"}}
        assert r.ask({"jsonrpc": "1.0", "id": 4, "method": "ping"})["error"]["code"] == -32600
        res = init(r, "1999-01-01")["result"]
        assert res["protocolVersion"] == "2025-11-25", res
        assert res["capabilities"]["resources"]["subscribe"] is True
        r.send('{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        assert init(r)["error"]["code"] == -32600  # twice
        assert r.ask({"jsonrpc": "2.0", "id": 5, "method": "no/such"})["error"]["code"] == -32601
        assert r.ask({"jsonrpc": "2.0", "id": 6, "method": "tools/list", "params": [1]}
                     )["error"]["code"] == -32602
        # An unknown notification gets nothing; the next answer is the ping's.
        r.send('{"jsonrpc":"2.0","method":"notifications/whatever"}\n')
        assert r.ask({"jsonrpc": "2.0", "id": "p", "method": "ping"})["id"] == "p"
        # A line over 16 MiB is refused and skipped.
        r.send(b'{"jsonrpc":"2.0","id":7,"method":"ping","params":{"x":"' + b"a" * (17 << 20) +
               b'"}}\n')
        e = r.recv()
        assert e["error"]["code"] == -32600 and e["id"] is None, e
        assert r.ask({"jsonrpc": "2.0", "id": 8, "method": "ping"})["id"] == 8
        # Big but legal arguments get a tool error naming the argument.
        big = r.ask({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                     "params": {"name": "search", "arguments": {"query": "x" * 100000}}})
        assert big["result"]["isError"] is True
        assert 'argument "query" is too long' in big["result"]["content"][0]["text"]
        # Paths that leave the vault.
        for note in ("../../../etc/passwd", "/etc/passwd", "People/../../outside"):
            t = r.ask({"jsonrpc": "2.0", "id": 10, "method": "tools/call",
                       "params": {"name": "read_note", "arguments": {"note": note}}})
            assert t["result"]["isError"] is True, t
            assert "no note named" in t["result"]["content"][0]["text"], t
        for uri in ("file:///etc/passwd", "file://" + d.vault + "/../x.md",
                    "file://" + d.vault + "/%2e%2e/x.md", "http://example.org/x.md"):
            e = r.ask({"jsonrpc": "2.0", "id": 11, "method": "resources/read",
                       "params": {"uri": uri}})
            assert e["error"]["code"] == -32002, (uri, e)
        # Write tools are not there without --allow-write.
        t = r.ask({"jsonrpc": "2.0", "id": 12, "method": "tools/call",
                   "params": {"name": "create_note", "arguments": {"path": "x.md", "text": ""}}})
        assert t["result"]["isError"] is True and "read-only" in t["result"]["content"][0]["text"]
        assert not os.path.exists(os.path.join(d.vault, "x.md"))
        e = r.ask({"jsonrpc": "2.0", "id": 13, "method": "tools/call", "params": {"name": 5}})
        assert e["error"]["code"] == -32602
        r.close()


def test_invalid_requests():
    """Each message that is no JSON-RPC request gets -32600 (with its id
    when it has a valid one, else null), a notification nothing, and the
    server keeps serving."""
    def err(id, code, message):
        return {"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}}

    not_request = "not a JSON-RPC 2.0 request (jsonrpc \"2.0\" and a method)"
    not_params = "params must be an object"
    cases = [
        ("{}", err(None, -32600, not_request)),
        ('{"jsonrpc":"2.0"}', err(None, -32600, not_request)),
        ('{"id":7}', err(7, -32600, not_request)),
        ('{"jsonrpc":"2.0","id":"s","params":{}}', err("s", -32600, not_request)),
        # The example of the JSON-RPC 2.0 specification.
        ('{"jsonrpc":"2.0","method":1,"params":"bar"}', err(None, -32600, not_request)),
        ('{"jsonrpc":"2.0","id":8,"method":1}', err(8, -32600, not_request)),
        ('{"jsonrpc":"2.0","id":8,"method":null}', err(8, -32600, not_request)),
        ('{"jsonrpc":2,"id":9,"method":"ping"}', err(9, -32600, not_request)),
        ('{"jsonrpc":"2.0","id":null,"method":"ping"}',
         err(None, -32600, "id must be a string or an integer")),
        ('{"jsonrpc":"2.0","id":1.5,"method":"ping"}',
         err(None, -32600, "id must be a string or an integer")),
        ('{"jsonrpc":"2.0","id":true}', err(None, -32600, "id must be a string or an integer")),
        # params that are no structured value: no request, notification or not.
        ('{"jsonrpc":"2.0","id":10,"method":"ping","params":"bar"}', err(10, -32600, not_params)),
        ('{"jsonrpc":"2.0","id":10,"method":"ping","params":null}', err(10, -32600, not_params)),
        ('{"jsonrpc":"2.0","method":"notifications/x","params":5}', err(None, -32600, not_params)),
        # An array is structured, but MCP's params are objects.
        ('{"jsonrpc":"2.0","id":11,"method":"ping","params":[]}', err(11, -32602, not_params)),
    ]
    with Daemon(files=FILES) as d:
        r = Raw(d)
        for before_init in (True, False):
            for line, want in cases:
                r.send(line + "\n")
                assert r.until_ping() == [want], (line, want)
            if before_init:
                init(r)
        # A notification is never answered, even with array params; nor
        # are responses (this server sends no requests).
        for line in ('{"jsonrpc":"2.0","method":"notifications/x","params":[1]}',
                     '{"jsonrpc":"2.0","result":{}}', '{"jsonrpc":"2.0","id":12,"result":{}}',
                     '{"jsonrpc":"2.0","id":13,"error":{"code":1,"message":"x"}}'):
            r.send(line + "\n")
            assert r.until_ping() == [], line
        assert r.ask({"jsonrpc": "2.0", "id": 14, "method": "tools/list"})["result"]["tools"]
        r.close()


def test_nul_in_strings():
    """\\u0000 is valid JSON, but no name or text quipu takes may hold it: a
    clear -32602 (not a parse error) with the request's id when it can be
    recovered, and the server keeps serving."""
    nul = "strings holding U+0000 are not accepted"
    with Daemon(files=FILES) as d:
        r = Raw(d)
        init(r)
        for line, id in (
                ('{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"read_note",'
                 '"arguments":{"note":"Ideas.md\\u0000../../etc/passwd"}}}', 20),
                ('{"jsonrpc":"2.0","id":"s\\u0000","method":"ping"}', "s\0"),
                ('{"jsonrpc":"2.0","id":21,"method":"resources/read","params":{"uri":"file://'
                 + d.vault + '/Ideas.md\\u0000x"}}', 21),
                ('{"jsonrpc":"2.0","id":22,"method":"ping\\u0000"}', 22),
                # jansson cannot hold a NUL in a key: the id is lost.
                ('{"jsonrpc":"2.0","id":23,"method":"ping","params":{"a\\u0000":1}}', None)):
            r.send(line + "\n")
            assert r.until_ping() == [{"jsonrpc": "2.0", "id": id,
                                       "error": {"code": -32602, "message": nul}}], line
        # An id that is no id is still that error; a notification gets nothing.
        r.send('{"jsonrpc":"2.0","id":[1],"method":"ping","params":{"k":"\\u0000"}}\n')
        assert r.until_ping()[0]["error"]["code"] == -32600
        r.send('{"jsonrpc":"2.0","method":"notifications/x","params":{"k":"\\u0000"}}\n')
        assert r.until_ping() == []
        # Invalid JSON after the NUL is still a parse error.
        r.send('{"jsonrpc":"2.0","id":24,"k":"\\u0000",}\n')
        assert r.until_ping()[0]["error"]["code"] == -32700
        t = r.ask({"jsonrpc": "2.0", "id": 25, "method": "tools/call",
                   "params": {"name": "read_note", "arguments": {"note": "Ideas.md"}}})
        assert t["result"]["structuredContent"]["path"] == "Ideas.md", t
        r.close()


def test_resources_pages():
    """resources/list pages through every note once (500 a page); a cursor
    that is no nextCursor is -32602, naming the cursor."""
    files = {".obsidian/app.json": "{}"}
    for i in range(1001):
        files["F%d/n %04d.md" % (i % 7, i)] = "# %d\n" % i
    with Daemon(files=files) as d:
        r = Raw(d)
        init(r)
        names, pages, cursor = [], 0, None
        while True:
            params = {"cursor": cursor} if cursor is not None else {}
            res = r.ask({"jsonrpc": "2.0", "id": 1, "method": "resources/list",
                         "params": params})["result"]
            pages += 1
            names += [x["name"] for x in res["resources"]]
            for x in res["resources"]:
                assert x["uri"] == "file://" + d.vault + "/" + x["name"].replace(" ", "%20"), x
            cursor = res.get("nextCursor")
            if cursor is None:
                break
            assert len(res["resources"]) == 500, len(res["resources"])
            assert isinstance(cursor, str) and pages < 10, cursor
        assert pages == 3, pages
        assert len(names) == 1001 and sorted(names) == sorted(set(names)), len(names)
        assert set(names) == set(f for f in files if f.endswith(".md"))
        # The last page's note reads.
        t = r.ask({"jsonrpc": "2.0", "id": 2, "method": "resources/read",
                   "params": {"uri": "file://" + d.vault + "/" + names[-1].replace(" ", "%20")}})
        assert t["result"]["contents"][0]["text"].startswith("# "), t
        # Cursors that no page gave.
        for bad in ("abc", "-1", "", 5, True, {"o": 1}):
            e = r.ask({"jsonrpc": "2.0", "id": 3, "method": "resources/list",
                       "params": {"cursor": bad}})
            assert e["error"]["code"] == -32602, (bad, e)
            assert "cursor" in e["error"]["message"], (bad, e)
            if isinstance(bad, str) and bad:
                assert '"%s"' % bad in e["error"]["message"], (bad, e)
        assert len(r.ask({"jsonrpc": "2.0", "id": 4, "method": "resources/list",
                          "params": {"cursor": None}})["result"]["resources"]) == 500
        r.close()


def test_resources_too_large():
    """A .md over 8 MiB is an attachment to the index: resources/list does
    not list it and resources/read says why it cannot serve it (its size,
    the limit) and what can; one of exactly 8 MiB is listed and read."""
    limit = 8 << 20
    line = "Some words about ideas and more.\n"
    edge = "# Edge\n" + line * ((limit - 7) // len(line))
    edge += "x" * (limit - len(edge) - 1) + "\n"
    big = edge + "one more line\n"
    assert len(edge) == limit
    files = dict(FILES, **{"Edge.md": edge, "Big.md": big})
    with Daemon(files=files) as d:
        r = Raw(d)
        init(r)
        res = r.ask({"jsonrpc": "2.0", "id": 1, "method": "resources/list"})["result"]
        names = [x["name"] for x in res["resources"]]
        assert "Edge.md" in names and "Big.md" not in names, names
        t = r.ask({"jsonrpc": "2.0", "id": 2, "method": "resources/read",
                   "params": {"uri": "file://" + d.vault + "/Edge.md"}})
        assert t["result"]["contents"][0]["text"] == edge
        e = r.ask({"jsonrpc": "2.0", "id": 3, "method": "resources/read",
                   "params": {"uri": "file://" + d.vault + "/Big.md"}})["error"]
        assert e["code"] == -32602, e
        for want in ("Big.md is %d bytes" % len(big), "%d-byte limit" % limit, "read_note"):
            assert want in e["message"], (want, e)
        assert e["data"] == {"path": "Big.md", "size": len(big), "limit": limit}, e
        # read_note reads it page by page, as the message says.
        t = r.ask({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                   "params": {"name": "read_note",
                              "arguments": {"note": "Big.md", "offset": limit - 2}}})
        sc = t["result"]["structuredContent"]
        assert sc["text"] == big[limit - 2:] and sc["size"] == len(big), sc
        assert sc["next_offset"] is None, sc
        r.close()


def test_subscribe_spellings():
    """Subscriptions are kept by note, not by URI text: spellings of one
    note's URI (percent-encoding, ./ and empty segments, localhost) are one
    subscription, and a URI with .. is none."""
    with Daemon(files=FILES) as d:
        r = Raw(d)
        init(r)
        v = "file://" + d.vault
        a = v + "/Meetings/Roadmap%20sync.md"  # as resources/list gives it
        spellings = [v + "/Meetings/./Roadmap sync.md", v + "//%4Deetings/Roadmap%20sync.md",
                     "file://localhost" + d.vault + "/Meetings/Roadmap%20s%79nc.md#x"]
        sentinel = v + "/Ideas.md"
        n = 0

        def sub(method, uri):
            res = r.ask({"jsonrpc": "2.0", "id": 1, "method": "resources/" + method,
                         "params": {"uri": uri}})
            assert res.get("result") == {}, (method, uri, res)

        def edit_and_collect():
            """Edits the note, then the sentinel; the notifications that
            came until the sentinel's (a check after the sentinel's commit
            sees the note's edit too: they are stat()s)."""
            nonlocal n
            n += 1
            with open(os.path.join(d.vault, "Meetings/Roadmap sync.md"), "a") as f:
                f.write("Edit %d.\n" % n)
            time.sleep(0.3)
            with open(os.path.join(d.vault, "Ideas.md"), "a") as f:
                f.write("Edit %d.\n" % n)
            got = []
            while True:
                msg = r.recv(10)
                assert msg.get("method") == "notifications/resources/updated", msg
                if msg["params"]["uri"] == sentinel:
                    return got + [m["params"]["uri"] for m in r.until_ping()]
                got.append(msg["params"]["uri"])

        for u in spellings:
            t = r.ask({"jsonrpc": "2.0", "id": 2, "method": "resources/read",
                       "params": {"uri": u}})
            assert t["result"]["contents"][0]["text"] == ROADMAP, (u, t)
        sub("subscribe", sentinel)
        # Subscribed with one spelling, unsubscribed with another: gone.
        for u in spellings:
            sub("subscribe", a)
            sub("unsubscribe", u)
            assert edit_and_collect() == [], u
        # Subscribed with every spelling: one subscription, one notification
        # per change, naming the URI as first subscribed.
        for u in [a] + spellings:
            sub("subscribe", u)
        assert edit_and_collect() == [a]
        assert edit_and_collect() == [a]
        sub("unsubscribe", spellings[1])
        assert edit_and_collect() == []
        # .. leaves the note (and maybe the vault): no such resource.
        with open(os.path.join(d.tmp, "outside.md"), "w") as f:
            f.write("outside\n")
        for u in (v + "/../outside.md", v + "/Meetings/../Ideas.md", v + "/%2E%2E/outside.md"):
            for method in ("subscribe", "read"):
                e = r.ask({"jsonrpc": "2.0", "id": 3, "method": "resources/" + method,
                           "params": {"uri": u}})
                assert e["error"]["code"] == -32002, (method, u, e)
        r.close()


MARA = """---
type: person
---

# Mara Lind

## Recent Context

- 2025-11-14: Mentioned in: Alpha

- 2025-11-07: Omar and Mara reviewed the org landscape

- 2025-10-30: Mentioned in: Bravo

## Tasks
"""


def meeting(title, date):
    return "---\ntype: meeting\ntitle: %s\ndate: '%s'\n---\n\nWith [[Mara Lind]].\n" % (title, date)


def test_add_mentions_keeps_the_format():
    files = {".obsidian/app.json": "{}", "People/Mara Lind.md": MARA,
             "M/a.md": meeting("Alpha", "2025-11-14"), "M/b.md": meeting("Bravo", "2025-10-30"),
             "M/c.md": meeting("Charlie", "2025-11-10"), "M/d.md": meeting("Delta", "2025-10-01")}
    with Daemon(files=files) as d:
        r = Raw(d, ["--allow-write"])
        init(r)
        t = r.ask({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "add_mentions", "arguments": {"note": "Mara Lind"}}})
        res = t["result"]
        assert not res.get("isError"), res
        assert [a["title"] for a in res["structuredContent"]["added"]] == ["Charlie", "Delta"]
        # Blank lines between items, newest first: each new line at its date.
        assert d.read("People/Mara Lind.md") == MARA.replace(
            "- 2025-11-07", "- 2025-11-10: Mentioned in: Charlie\n\n- 2025-11-07").replace(
            "Bravo\n", "Bravo\n\n- 2025-10-01: Mentioned in: Delta\n"), d.read("People/Mara Lind.md")
        r.close()


def test_older_revision():
    with Daemon(files=FILES) as d:
        r = Raw(d)
        assert init(r, "2025-03-26")["result"]["protocolVersion"] == "2025-03-26"
        r.close()


def test_starts_quipud():
    """No daemon runs: `quipu mcp --vault DIR` starts one, detached."""
    tmp = tempfile.mkdtemp(prefix="qp-mcp-")
    vault = os.path.join(tmp, "vault")
    for rel, text in FILES.items():
        os.makedirs(os.path.dirname(os.path.join(vault, rel)), exist_ok=True)
        with open(os.path.join(vault, rel), "w") as f:
            f.write(text)
    env = dict(os.environ, XDG_RUNTIME_DIR=os.path.join(tmp, "run"),
               XDG_CACHE_HOME=os.path.join(tmp, "cache"), XDG_STATE_HOME=os.path.join(tmp, "state"),
               QUIPUD=quipud_path())
    env.pop("QUIPU_SOCKET", None)
    os.makedirs(env["XDG_RUNTIME_DIR"], mode=0o700)
    sock = subprocess.run([quipud_path(), "--print-socket", vault], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()
    p = subprocess.Popen([quipu_path(), "mcp", "--vault", vault], env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pid = None
    try:
        msg = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
               "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                          "clientInfo": {"name": "raw", "version": "0"}}}
        p.stdin.write((json.dumps(msg) + "\n").encode())
        p.stdin.flush()
        assert json.loads(p.stdout.readline())["result"]["serverInfo"]["name"] == "quipu"
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        pid = struct.unpack("3i", s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
        s.close()
        deadline = time.monotonic() + 30
        while True:
            call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                    "params": {"name": "status", "arguments": {}}}
            p.stdin.write((json.dumps(call) + "\n").encode())
            p.stdin.flush()
            st = json.loads(p.stdout.readline())["result"]["structuredContent"]
            if st["state"] == "ready" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert st["state"] == "ready" and st["files"] == 4, st
        assert os.path.realpath(st["vault"]) == os.path.realpath(vault)
        p.stdin.close()
        assert p.wait(timeout=10) == 0
        assert b"starting" in p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
        if pid:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run_tests(globals())
