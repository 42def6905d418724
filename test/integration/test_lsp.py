"""`quipu lsp` over its stdio at the byte level: hostile input (bad headers,
oversized messages, invalid JSON, requests before initialize, unknown
methods) gets the LSP error codes while the server keeps serving; the
lifecycle's exit codes; and the daemon handling a client never sees:
starting quipud when none answers (one per vault of a multi-root
workspace), and the showMessage, reconnect and re-publish after the
daemon is killed.

The server is spoken to with the base protocol written out by hand here on
purpose (the real clients are in test_lsp_nvim.py and test_lsp_client.py).
Daemons this test makes `quipu lsp` start are found by the pid the server
logs, and killed by that pid at the end."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from qp_harness import Daemon, quipu_path, quipud_path, run_tests  # noqa: E402


class Lsp:
    """A `quipu lsp` process and its framed stdio."""

    def __init__(self, env=None, args=()):
        self.p = subprocess.Popen([quipu_path(), "lsp"] + list(args), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, env=env)
        self.msgs = []
        self.cv = threading.Condition()
        self.t = threading.Thread(target=self._reader, daemon=True)
        self.t.start()
        self.next_id = 1

    def _reader(self):
        f = self.p.stdout
        while True:
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                c = f.read(1)
                if not c:
                    with self.cv:
                        self.msgs.append(None)
                        self.cv.notify_all()
                    return
                head += c
            n = int(head.split(b"Content-Length:")[1].split(b"\r\n")[0])
            body = f.read(n)
            with self.cv:
                self.msgs.append(json.loads(body))
                self.cv.notify_all()

    def raw(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def send(self, msg):
        b = json.dumps(msg).encode()
        self.raw(b"Content-Length: %d\r\n\r\n" % len(b) + b)

    def request(self, method, params=None):
        i = self.next_id
        self.next_id += 1
        m = {"jsonrpc": "2.0", "id": i, "method": method}
        if params is not None:
            m["params"] = params
        self.send(m)
        return self.wait(lambda x: x is not None and x.get("id") == i and "method" not in x)

    def notify(self, method, params=None):
        self.send({"jsonrpc": "2.0", "method": method, "params": params or {}})

    def wait(self, pred, timeout=20):
        deadline = time.monotonic() + timeout
        with self.cv:
            while True:
                for i, m in enumerate(self.msgs):
                    if m is not None and pred(m):
                        del self.msgs[i]
                        return m
                if None in self.msgs:
                    raise EOFError("quipu lsp closed its output")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no such message; have %s" % json.dumps(self.msgs)[:2000])
                self.cv.wait(left)

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


def err_of(m):
    return m.get("error", {}).get("code")


def test_hostile_input():
    s = Lsp()
    try:
        # Before initialize: -32002, and the server is still there.
        r = s.request("textDocument/hover", {})
        assert err_of(r) == -32002, r
        # Bad headers: -32700 with id null, then the next message is read.
        s.raw(b"Content-Length: abc\r\n\r\n")
        m = s.wait(lambda x: err_of(x) == -32700)
        assert m["id"] is None, m
        s.raw(b"Content-Type: text/plain\r\n\r\n")
        s.wait(lambda x: err_of(x) == -32700)
        # Invalid JSON and non-objects.
        s.raw(b'Content-Length: 5\r\n\r\n{"a":')
        s.wait(lambda x: err_of(x) == -32700)
        s.raw(b"Content-Length: 5\r\n\r\n[1,2]")
        s.wait(lambda x: err_of(x) == -32600)
        r = s.request("initialize", {"capabilities": {}, "rootUri": None})
        assert "capabilities" in r["result"], r
        caps = r["result"]["capabilities"]
        assert caps["positionEncoding"] == "utf-16", caps
        s.notify("initialized")
        # A second initialize is refused.
        assert err_of(s.request("initialize", {"capabilities": {}})) == -32600
        # Unknown methods: -32601 for requests, notifications are ignored.
        s.notify("quipu/nothing")
        assert err_of(s.request("textDocument/nothing", {})) == -32601
        # A message over the 64 MiB limit is skipped as it streams in.
        big = 64 * 1024 * 1024 + 10
        s.raw(b"Content-Length: %d\r\n\r\n" % big)
        chunk = b" " * (1 << 20)
        sent = 0
        while sent < big:
            n = min(len(chunk), big - sent)
            s.raw(chunk[:n])
            sent += n
        s.wait(lambda x: err_of(x) == -32600, timeout=60)
        # Still serving: a request with a string id, and a bad id type.
        s.send({"jsonrpc": "2.0", "id": "x", "method": "textDocument/documentSymbol",
                "params": {"textDocument": {"uri": "file:///nowhere.md"}}})
        r = s.wait(lambda x: x.get("id") == "x")
        assert r["result"] == [], r
        s.send({"jsonrpc": "2.0", "id": {"a": 1}, "method": "shutdown"})
        s.wait(lambda x: err_of(x) == -32600)
        # shutdown, then requests are refused; exit after shutdown is 0.
        assert s.request("shutdown")["result"] is None
        assert err_of(s.request("textDocument/hover", {})) == -32600
        s.notify("exit")
        assert s.p.wait(10) == 0
    finally:
        s.close()


def test_exit_without_shutdown():
    s = Lsp()
    s.request("initialize", {"capabilities": {}})
    s.notify("exit")
    assert s.p.wait(10) == 1
    s.close()


def _logged_pids(s, n, timeout=20):
    pids = []
    while len(pids) < n:
        m = s.wait(lambda x: x.get("method") == "window/logMessage"
                   and x["params"]["message"].startswith("started "), timeout)
        pids.append(int(m["params"]["message"].rsplit("(pid ", 1)[1].rstrip(")")))
    return pids


def _private_env():
    """A temporary root and an environment whose default socket and index
    paths are under it, with the quipud under test (a server started there
    finds no other daemon)."""
    root = tempfile.mkdtemp(prefix="qp-lsp-")
    run = os.path.join(root, "run")
    os.makedirs(run, mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=run, XDG_CACHE_HOME=os.path.join(root, "cache"),
               QUIPUD=quipud_path())
    env.pop("QUIPU_SOCKET", None)
    return root, env


def _vault(root, name, files):
    v = os.path.join(root, name)
    for rel, text in files.items():
        p = os.path.join(v, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
    return v


def _kill(pids):
    for p in pids:
        try:
            os.kill(p, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    for p in pids:
        while time.monotonic() < deadline:
            try:
                os.kill(p, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)


@contextlib.contextmanager
def _session(name, files):
    """`quipu lsp` on a private vault of `files`, initialized with the vault
    as its root; yields (server, vault path), then shuts it down (asserting
    a clean exit) and removes everything."""
    root, env = _private_env()
    v = _vault(root, name, files)
    pids = []
    s = Lsp(env=env)
    try:
        s.request("initialize", {"capabilities": {}, "rootUri": "file://" + v})
        pids += _logged_pids(s, 1)
        s.notify("initialized")
        yield s, v
        s.request("shutdown")
        s.notify("exit")
        assert s.p.wait(10) == 0
    finally:
        s.close()
        _kill(pids)
        shutil.rmtree(root, ignore_errors=True)


def _definition(s, uri):
    deadline = time.monotonic() + 20
    while True:
        d = s.request("textDocument/definition", {"textDocument": {"uri": uri},
                                                  "position": {"line": 2, "character": 3}})
        if d["result"] or time.monotonic() > deadline:
            return d
        time.sleep(0.05)


def test_starts_daemons_and_reconnects():
    root, env = _private_env()
    a = _vault(root, "alpha", {".obsidian/app.json": "{}", "A.md": "# A\n\n[[B]] [[Nope]]\n",
                               "B.md": "# B\n"})
    # The second folder is inside a vault: the vault is the folder with .obsidian/.
    b = _vault(root, "beta", {".obsidian/app.json": "{}", "sub/C.md": "# C\n\n[[D]]\n",
                              "D.md": "# D\n"})
    pids = []
    s = Lsp(env=env)
    try:
        r = s.request("initialize", {"capabilities": {"window": {"workDoneProgress": True}},
                                     "workspaceFolders": [
                                         {"uri": "file://" + a, "name": "a"},
                                         {"uri": "file://" + b + "/sub", "name": "b"}]})
        assert "capabilities" in r["result"], r
        pids += _logged_pids(s, 2)
        assert len(set(pids)) == 2, pids
        s.notify("initialized")
        ua, uc = "file://" + a + "/A.md", "file://" + b + "/sub/C.md"
        for uri, path in ((ua, a + "/A.md"), (uc, b + "/sub/C.md")):
            with open(path, encoding="utf-8") as f:
                s.notify("textDocument/didOpen", {"textDocument": {
                    "uri": uri, "languageId": "markdown", "version": 1, "text": f.read()}})
        # Links resolve once each new daemon's first scan is done.
        d = _definition(s, uc)
        assert d["result"]["uri"] == "file://" + b + "/D.md", d
        d = _definition(s, ua)
        assert d["result"]["uri"] == "file://" + a + "/B.md", d
        diag = s.wait(lambda x: x.get("method") == "textDocument/publishDiagnostics"
                      and x["params"]["uri"] == ua and x["params"]["diagnostics"])
        assert [x["code"] for x in diag["params"]["diagnostics"]] == ["unresolved-link"], diag
        # Kill alpha's daemon: one showMessage, then a new daemon is
        # started, re-subscribed, and A.md's diagnostics published again.
        os.kill(pids[0], signal.SIGKILL)
        m = s.wait(lambda x: x.get("method") == "window/showMessage")
        assert "went away" in m["params"]["message"] and a in m["params"]["message"], m
        pids += _logged_pids(s, 1)
        s.wait(lambda x: x.get("method") == "window/logMessage"
               and x["params"]["message"].startswith("reconnected"))
        # The new daemon indexes and answers; the link resolves again.
        d = _definition(s, ua)
        assert d["result"]["uri"] == "file://" + a + "/B.md", d
        # Creating the missing note clears the diagnostic through the new daemon.
        with open(a + "/Nope.md", "w") as f:
            f.write("# Nope\n")
        s.wait(lambda x: x.get("method") == "textDocument/publishDiagnostics"
               and x["params"]["uri"] == ua and x["params"]["diagnostics"] == [])
        assert s.request("shutdown")["result"] is None
        s.notify("exit")
        assert s.p.wait(10) == 0
    finally:
        s.close()
        _kill(pids)
        shutil.rmtree(root, ignore_errors=True)


def test_progress_during_scan():
    files = {".obsidian/app.json": "{}"}
    files.update({"n/%04d.md" % i: "# N%d\n\n[[n/%04d]]\n" % (i, i + 1) for i in range(3000)})
    root, env = _private_env()
    v = _vault(root, "big", files)
    pids = []
    s = Lsp(env=env)
    try:
        s.request("initialize", {"capabilities": {"window": {"workDoneProgress": True}},
                                 "rootUri": "file://" + v})
        pids += _logged_pids(s, 1)
        create = s.wait(lambda x: x.get("method") == "window/workDoneProgress/create")
        tok = create["params"]["token"]
        s.send({"jsonrpc": "2.0", "id": create["id"], "result": None})
        s.wait(lambda x: x.get("method") == "$/progress"
               and x["params"]["token"] == tok and x["params"]["value"]["kind"] == "begin")
        s.wait(lambda x: x.get("method") == "$/progress" and x["params"]["token"] == tok
               and x["params"]["value"]["kind"] == "end", timeout=120)
        s.request("shutdown")
        s.notify("exit")
        assert s.p.wait(10) == 0
    finally:
        s.close()
        _kill(pids)
        shutil.rmtree(root, ignore_errors=True)


NADIA = "# Nadia Vale\n\n## A\n\n### Same\n\n## B\n\n### Same\n"
LINKER = "[[Nadia Vale#A#Same]]\n[[Nadia Vale#B#Same]]\n[[Nadia Vale#Same]]\n"


def test_references_repeated_heading_and_unlinked():
    """References on a heading are the links that land on that heading, as
    Obsidian resolves them: [[N#Same]] reaches the first "### Same", so the
    second one has only [[N#B#Same]]. With unlinkedReferences on, the note's
    references add its plain-text mentions (in notes that do not link it)."""
    root, env = _private_env()
    v = _vault(root, "refs", {".obsidian/app.json": "{}", "Nadia Vale.md": NADIA,
                              "Linker.md": LINKER, "Other.md": "Nadia Vale is named here.\n"})
    pids = []
    s = Lsp(env=env)
    try:
        s.request("initialize", {"capabilities": {}, "rootUri": "file://" + v,
                                 "initializationOptions": {"unlinkedReferences": True}})
        pids += _logged_pids(s, 1)
        s.notify("initialized")
        un, ul, uo = ("file://" + v + "/Nadia%20Vale.md", "file://" + v + "/Linker.md",
                      "file://" + v + "/Other.md")
        s.notify("textDocument/didOpen", {"textDocument": {
            "uri": un, "languageId": "markdown", "version": 1, "text": NADIA}})

        def refs(line, ch):
            r = s.request("textDocument/references", {
                "textDocument": {"uri": un}, "position": {"line": line, "character": ch},
                "context": {"includeDeclaration": False}})["result"]
            return sorted([x["uri"], x["range"]["start"]["line"], x["range"]["start"]["character"],
                           x["range"]["end"]["line"], x["range"]["end"]["character"]] for x in r)

        deadline = time.monotonic() + 20
        while not refs(8, 5) and time.monotonic() < deadline:  # the first scan
            time.sleep(0.05)
        assert refs(8, 5) == [[ul, 1, 0, 1, 21]], refs(8, 5)
        assert refs(4, 5) == [[ul, 0, 0, 0, 21], [ul, 2, 0, 2, 19]], refs(4, 5)
        assert refs(0, 3) == [[ul, 0, 0, 0, 21], [ul, 1, 0, 1, 21], [ul, 2, 0, 2, 19],
                              [uo, 0, 0, 0, 10]], refs(0, 3)
        s.request("shutdown")
        s.notify("exit")
        assert s.p.wait(10) == 0
    finally:
        s.close()
        _kill(pids)
        shutil.rmtree(root, ignore_errors=True)


def test_unsaved_headings():
    """A heading typed but not saved is where a link into the same note
    lands: no "no heading" diagnostic for [[#Fresh]] or [[S3#Fresh]], and
    definition goes to it; in a new note not yet on disk, [[#New]] goes to
    its heading too."""
    with _session("unsaved", {".obsidian/app.json": "{}", "S3.md": "# S3\n\ntext\n"}) as (s, v):
        u3, u2 = "file://" + v + "/S3.md", "file://" + v + "/S2.md"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the first scan
            r = s.request("workspace/symbol", {"query": "S3"})["result"]
            if r:
                break
            time.sleep(0.05)
        text = "# S3\n\nsee [[#Fresh]] and [[S3#Fresh]], not [[#Stale]]\n\n## Fresh\n"
        s.notify("textDocument/didOpen", {"textDocument": {
            "uri": u3, "languageId": "markdown", "version": 1, "text": text}})
        d = s.wait(lambda x: x.get("method") == "textDocument/publishDiagnostics"
                   and x["params"]["uri"] == u3)
        msgs = [x["message"] for x in d["params"]["diagnostics"]]
        assert msgs == ['unresolved link: S3.md has no heading "Stale"'], msgs
        for ch in (9, 25):  # inside [[#Fresh]], inside [[S3#Fresh]]
            r = s.request("textDocument/definition", {
                "textDocument": {"uri": u3}, "position": {"line": 2, "character": ch}})["result"]
            assert r["uri"] == u3 and r["range"]["start"]["line"] == 4, r
        s.notify("textDocument/didOpen", {"textDocument": {
            "uri": u2, "languageId": "markdown", "version": 1,
            "text": "## New\n\n[[#New]]\n"}})
        r = s.request("textDocument/definition", {
            "textDocument": {"uri": u2}, "position": {"line": 2, "character": 4}})["result"]
        assert r is not None and r["uri"] == u2 and r["range"]["start"]["line"] == 0, r


def test_frontmatter_completion_scalar():
    """Notes are offered as "[[Name]]" in a frontmatter list, not for a
    scalar value such as `status: ac` (it gets the key's own values)."""
    with _session("fmc", {".obsidian/app.json": "{}", "Active plan.md": "# Active plan\n",
                          "A.md": "---\nstatus: active\n---\n"}) as (s, v):
        u = "file://" + v + "/B.md"
        text = "---\nstatus: ac\nattendees:\n- ac\n---\n"
        s.notify("textDocument/didOpen", {"textDocument": {
            "uri": u, "languageId": "markdown", "version": 1, "text": text}})

        def labels(line, ch):
            r = s.request("textDocument/completion", {
                "textDocument": {"uri": u}, "position": {"line": line, "character": ch}})["result"]
            items = r["items"] if isinstance(r, dict) else (r or [])
            return sorted(i.get("insertText") or i.get("textEdit", {}).get("newText", "")
                          for i in items)

        deadline = time.monotonic() + 20
        while not labels(3, 4) and time.monotonic() < deadline:  # the first scan
            time.sleep(0.05)
        assert '"[[Active plan]]"' in labels(3, 4), labels(3, 4)  # a list item
        assert labels(1, 10) == ["active"], labels(1, 10)         # a scalar


def test_completion_link_formats():
    """After [[ a note is inserted in the vault's new-link format
    (.obsidian/app.json newLinkFormat): shortest by default, the path from
    the vault root when "absolute", from the note's folder when
    "relative"; as a Markdown link with useMarkdownLinks."""
    want = {None: "Alpha Plan]]", "absolute": "Projects/Alpha Plan]]",
            "relative": "../Projects/Alpha Plan]]",
            # useMarkdownLinks: the "[[" replaced too, the path encoded
            "markdown": "[Alpha Plan](../Projects/Alpha%20Plan.md)"}
    for fmt, insert in want.items():
        app = json.dumps({"newLinkFormat": "relative", "useMarkdownLinks": True}
                         if fmt == "markdown" else {"newLinkFormat": fmt} if fmt else {})
        with _session("fmt", {".obsidian/app.json": app, "Projects/Alpha Plan.md": "# Alpha\n",
                              "Notes/Doc.md": "x\n"}) as (s, v):
            u = "file://" + v + "/Notes/Doc.md"
            s.notify("textDocument/didOpen", {"textDocument": {
                "uri": u, "languageId": "markdown", "version": 1, "text": "see [[Alpha\n"}})

            def inserts():
                r = s.request("textDocument/completion", {
                    "textDocument": {"uri": u}, "position": {"line": 0, "character": 11}})["result"]
                items = r["items"] if isinstance(r, dict) else (r or [])
                return [i.get("textEdit", {}).get("newText") or i.get("insertText")
                        for i in items]

            deadline = time.monotonic() + 20
            got = inserts()
            while not got and time.monotonic() < deadline:  # the first scan
                time.sleep(0.05)
                got = inserts()
            assert got == [insert], (fmt, got)


def test_completion_capped_incomplete():
    """More matching notes than the cap (50): the list is cut and says so
    (isIncomplete), so the editor asks again as the user types; a prefix
    that matches few gives the whole list, complete."""
    files = {".obsidian/app.json": "{}", "Other.md": "# Other\n"}
    files.update({"Topic %02d.md" % i: "# Topic %02d\n" % i for i in range(60)})
    with _session("cap", files) as (s, v):
        u = "file://" + v + "/Doc.md"
        s.notify("textDocument/didOpen", {"textDocument": {
            "uri": u, "languageId": "markdown", "version": 1, "text": "[[Topic\n[[Topic 07\n"}})

        def complete(line, ch):
            return s.request("textDocument/completion", {
                "textDocument": {"uri": u}, "position": {"line": line, "character": ch}})["result"]

        deadline = time.monotonic() + 20
        r = complete(0, 7)
        while len(r["items"]) < 50 and time.monotonic() < deadline:  # the first scan
            time.sleep(0.05)
            r = complete(0, 7)
        assert len(r["items"]) == 50 and r["isIncomplete"] is True, (len(r["items"]), r["isIncomplete"])
        r = complete(1, 10)
        assert [i["label"] for i in r["items"]] == ["Topic 07"] and r["isIncomplete"] is False, r


def test_workspace_folder_removed():
    """A removed workspace folder lets go of its vault's daemon, but not
    while a document of that vault is open; a document opened there later
    brings the vault back."""
    root, env = _private_env()
    a = _vault(root, "ra", {".obsidian/app.json": "{}", "A.md": "[[B]]\n", "B.md": "# B\n"})
    b = _vault(root, "rb", {".obsidian/app.json": "{}", "C.md": "[[D]]\n", "D.md": "# D\n"})
    pids = []
    s = Lsp(env=env)
    try:
        s.request("initialize", {"capabilities": {}, "workspaceFolders": [
            {"uri": "file://" + a, "name": "a"}, {"uri": "file://" + b, "name": "b"}]})
        pids += _logged_pids(s, 2)
        s.notify("initialized")
        ua, uc = "file://" + a + "/A.md", "file://" + b + "/C.md"

        def definition(uri, text):
            s.notify("textDocument/didOpen", {"textDocument": {
                "uri": uri, "languageId": "markdown", "version": 1, "text": text}})
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # the first scan
                r = s.request("textDocument/definition", {
                    "textDocument": {"uri": uri}, "position": {"line": 0, "character": 3}})
                if r.get("result"):
                    return r["result"]["uri"]
                time.sleep(0.05)
            return None

        assert definition(ua, "[[B]]\n") == "file://" + a + "/B.md"
        # b has no open document: dropped; a has one: kept.
        s.notify("workspace/didChangeWorkspaceFolders", {"event": {
            "added": [], "removed": [{"uri": "file://" + a, "name": "a"},
                                     {"uri": "file://" + b, "name": "b"}]}})
        r = s.request("textDocument/definition", {
            "textDocument": {"uri": ua}, "position": {"line": 0, "character": 3}})
        assert r["result"]["uri"] == "file://" + a + "/B.md", r
        assert definition(uc, "[[D]]\n") == "file://" + b + "/D.md"
        s.request("shutdown")
        s.notify("exit")
        assert s.p.wait(10) == 0
    finally:
        s.close()
        _kill(pids)
        shutil.rmtree(root, ignore_errors=True)


def _meeting(title, date, who):
    return ("---\ntype: meeting\ntitle: \"%s\"\ndate: '%s'\nattendees:\n- \"[[%s]]\"\n---\n\n"
            "# %s\n" % (title, date, who, title))


ROB = ("---\r\ntype: person\r\nname: Rob Kestrel\r\n---\r\n# Rob Kestrel\r\n\r\n"
       "## Recent Context\r\n\r\n"
       "- 2025-11-01: Mentioned in: Sync B\r\n\r\n"
       "- 2025-10-30: 1:1 on pricing, no link\r\n\r\n"
       "## Tasks\r\n")


def test_add_mentions_order_spacing_crlf():
    """The "Mentioned in" lines the action adds go newest first among every
    dated item of Recent Context (not only its "Mentioned in" lines), a
    blank line apart as the note's items are, with the note's CRLF."""
    with _session("addm", {
        ".obsidian/app.json": "{}", "People/Rob Kestrel.md": ROB,
        "Meetings/2025-11-20 Kickoff.md": _meeting("Kickoff", "2025-11-20", "Rob Kestrel"),
        "Meetings/2025-11-01 Sync B.md": _meeting("Sync B", "2025-11-01", "Rob Kestrel"),
        "Meetings/2025-10-15 Old.md": _meeting("Old", "2025-10-15", "Rob Kestrel")}) as (s, v):
        u = "file://" + v + "/People/Rob%20Kestrel.md"
        s.notify("textDocument/didOpen", {"textDocument": {
            "uri": u, "languageId": "markdown", "version": 1, "text": ROB}})
        deadline = time.monotonic() + 20
        act = None
        while act is None and time.monotonic() < deadline:  # the first scan
            acts = s.request("textDocument/codeAction", {
                "textDocument": {"uri": u},
                "range": {"start": {"line": 6, "character": 0}, "end": {"line": 6, "character": 0}},
                "context": {"diagnostics": []}})["result"] or []
            act = next((a for a in acts if a["title"].startswith("Add 2 missing")), None)
            time.sleep(0.05)
        assert act is not None, acts
        edits = sorted((e["range"]["start"]["line"], e["newText"]) for e in act["edit"]["changes"][u])
        assert edits == [
            (8, "- 2025-11-20: Mentioned in: Kickoff\r\n\r\n"),   # before 2025-11-01
            (11, "\r\n- 2025-10-15: Mentioned in: Old\r\n"),       # after 2025-10-30
        ], edits
        # A saved line that names no meeting (stale as the index knows the
        # note): removed, the whole line, by the action offered on it.
        stale = ROB.replace("## Tasks", "- 2025-09-09: Mentioned in: Gone\r\n\r\n## Tasks")
        with open(os.path.join(v, "People/Rob Kestrel.md"), "w", newline="") as f:
            f.write(stale)
        s.notify("textDocument/didChange", {"textDocument": {"uri": u, "version": 2},
                                            "contentChanges": [{"text": stale}]})
        deadline = time.monotonic() + 20
        rm = []
        while not rm and time.monotonic() < deadline:  # until the index has the save
            acts = s.request("textDocument/codeAction", {
                "textDocument": {"uri": u},
                "range": {"start": {"line": 12, "character": 3},
                          "end": {"line": 12, "character": 3}},
                "context": {"diagnostics": []}})["result"] or []
            rm = [a for a in acts if a["title"].startswith("Remove the stale line")]
            time.sleep(0.05)
        assert [a["title"] for a in rm] == ['Remove the stale line "Gone"'], acts
        assert rm[0]["edit"]["changes"][u] == [{"range": {
            "start": {"line": 12, "character": 0}, "end": {"line": 13, "character": 0}},
            "newText": ""}], rm


EMOJI_SRC = ("---\r\nattendees: [\"[[Target]]\"]\r\n---\r\n"
             "\U0001f389 \u00e9 [[Target]] x\r\n- \U0001f600\U0001f600 [[Target|T]]\r\n")


def test_references_ranges_emoji_crlf():
    """References on a note, from a CRLF file whose lines put emoji (two
    UTF-16 units, four bytes) and accents before the links: the ranges
    are counted by hand in the negotiated encoding, the frontmatter
    link's inside its quotes."""
    root, env = _private_env()
    v = _vault(root, "emoji", {".obsidian/app.json": "{}", "Target.md": "# Target\n",
                               "Src.md": EMOJI_SRC})
    want = {"utf-16": [[1, 13, 1, 23], [3, 5, 3, 15], [4, 7, 4, 19]],
            "utf-8": [[1, 13, 1, 23], [3, 8, 3, 18], [4, 11, 4, 23]]}
    pids = []
    try:
        for enc in ("utf-16", "utf-8"):
            s = Lsp(env=env)
            try:
                r = s.request("initialize", {
                    "capabilities": {"general": {"positionEncodings": [enc]}},
                    "rootUri": "file://" + v})["result"]
                assert r["capabilities"].get("positionEncoding", "utf-16") == enc, r
                if not pids:  # the second server finds the daemon the first started
                    pids += _logged_pids(s, 1)
                s.notify("initialized")
                ut = "file://" + v + "/Target.md"
                s.notify("textDocument/didOpen", {"textDocument": {
                    "uri": ut, "languageId": "markdown", "version": 1, "text": "# Target\n"}})

                def refs():
                    r = s.request("textDocument/references", {
                        "textDocument": {"uri": ut}, "position": {"line": 0, "character": 3},
                        "context": {"includeDeclaration": False}})["result"]
                    assert all(x["uri"] == "file://" + v + "/Src.md" for x in r), r
                    return [[x["range"]["start"]["line"], x["range"]["start"]["character"],
                             x["range"]["end"]["line"], x["range"]["end"]["character"]] for x in r]

                deadline = time.monotonic() + 20
                while not refs() and time.monotonic() < deadline:  # the first scan
                    time.sleep(0.05)
                assert refs() == want[enc], (enc, refs())
                s.request("shutdown")
                s.notify("exit")
                assert s.p.wait(10) == 0
            finally:
                s.close()
    finally:
        _kill(pids)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    run_tests(globals())
