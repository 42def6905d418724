"""Hostile clients against a real quipud: broken JSON, broken UTF-8, deep
nesting, oversize lines, partial lines then silence, a subscriber that never
reads, a thousand connections opened and dropped, paths outside the vault,
NUL bytes, batches, unknown methods. Each gets the right error (or is cut
off), and after each a normal client still gets correct answers while
quipud's RSS stays bounded (the peak is printed).
"""

import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hard_common as H  # noqa: E402
from qp_harness import Client, ConnectionClosed, Daemon, run_tests  # noqa: E402

PERSON = "---\ntype: person\ntags:\n- type/person\n---\n\n# Ann Veld\n"
FILES = {
    "People/Ann Veld.md": PERSON,
    "Meetings/2025-01-02 A.md": "---\ntype: meeting\ntitle: A\n---\n\nWith [[Ann Veld]].\n",
    "Notes/n.md": "Ann Veld said hi.\n",
}
# Generous: an ASan build of quipud on a three-note vault idles near 60 MiB;
# the limit catches a daemon that buffers what hostile clients send.
RSS_LIMIT_KIB = 600 * 1024

D = None
peak = [0]


def daemon():
    """The shared quipud; a new one when an earlier test killed it (that test
    has failed already; the next ones still get a daemon to abuse)."""
    global D
    if D is not None and D.proc is not None and D.proc.poll() is not None:
        print("  (quipud died earlier: starting a new one)")
        D.cleanup()
        D = None
    if D is None:
        D = Daemon(files=FILES, timeout=60)
    return D


def watch_rss():
    r = H.rss_kib(daemon().proc.pid)
    peak[0] = max(peak[0], r)
    return r


def healthy(label):
    """A normal client gets correct answers; RSS is bounded."""
    d = daemon()
    assert d.proc.poll() is None, "quipud exited after %s:\n%s" % (label, d.stderr()[-3000:])
    with Client(d.socket, timeout=30) as c:
        st = c.request("status", {})
        assert st["state"] == "ready" and st["files"] == 3, st
        b = c.request("backlinks", {"note": "Ann Veld", "unlinked": True})
        assert [s["path"] for s in b["linked"]] == ["Meetings/2025-01-02 A.md"], b
        assert [s["path"] for s in b["unlinked"]] == ["Notes/n.md"], b
    r = watch_rss()
    print("  after %s: RSS %d KiB" % (label, r), flush=True)
    assert r < RSS_LIMIT_KIB, "RSS %d KiB after %s" % (r, label)


def raw(timeout=10):
    """A connected socket. A full listen backlog makes a Unix-socket connect
    fail with EAGAIN at once (Python's timeout mode is non-blocking): retry."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(daemon().socket)
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def expect_error(c, code, kind=None):
    m = c.read_message(timeout=30)
    assert "error" in m, m
    assert m["error"]["code"] == code, m
    if kind:
        assert m["error"]["data"]["kind"] == kind, m
    return m


def read_until_closed(s, timeout=30):
    """Reads until EOF; returns the bytes. Fails if the peer keeps it open."""
    s.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = s.recv(1 << 16)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


# ---------------------------------------------------------------------------

def test_invalid_json_keeps_connection():
    with Client(daemon().socket) as c:
        for bad in [b'{"jsonrpc":"2.0","id":1,\n', b"not json at all\n", b"{}}\n", b'"\n',
                    b'{"jsonrpc":"2.0","id":1,"method":"status"} trailing\n', b"\x00\n"]:
            c.send_raw(bad)
            m = expect_error(c, -32700, "parse_error")
            assert m["id"] is None, m
        assert c.request("status")["state"] == "ready"
    healthy("invalid JSON")


def test_invalid_utf8_is_parse_error():
    with Client(daemon().socket) as c:
        for bad in [b'{"jsonrpc":"2.0","id":2,"method":"st\xffatus"}\n',
                    b'{"jsonrpc":"2.0","id":3,"method":"note","params":{"note":"\xc0\xaf"}}\n',
                    b'{"jsonrpc":"2.0","id":4,"method":"note","params":{"note":"\xed\xa0\x80"}}\n',
                    b'{"jsonrpc":"2.0","id":5,"method":"status","x":"\xf8\x88\x80\x80\x80"}\n']:
            c.send_raw(bad)
            expect_error(c, -32700, "parse_error")
        assert c.request("status")["state"] == "ready"
    healthy("invalid UTF-8")


def test_deeply_nested_json():
    with Client(daemon().socket, timeout=30) as c:
        c.send_raw(b"[" * 100000 + b"\n")
        m = c.read_message(timeout=30)
        assert m["error"]["code"] in (-32700, -32600), m
        c.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"status","params":' + b'{"a":' * 50000
                   + b"1" + b"}" * 50000 + b"}\n")
        m = c.read_message(timeout=30)
        assert "error" in m and m["error"]["code"] in (-32700, -32600, -32602), m
        assert c.request("status")["state"] == "ready"
    healthy("100k nested brackets")


def test_oversize_line_closes_connection():
    s = raw(timeout=60)
    other = Client(daemon().socket, timeout=30)
    chunk = b"x" * (1 << 20)
    sent = 0
    try:
        s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"note","params":{"note":"')
        while sent <= 17 * (1 << 20):
            s.sendall(chunk)
            sent += len(chunk)
            if sent % (4 << 20) == 0:
                assert other.request("status")["state"] == "ready"  # others served meanwhile
                watch_rss()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the daemon closed it while we were still sending
    data = read_until_closed(s)
    s.close()
    lines = [json.loads(x) for x in data.split(b"\n") if x.strip()]
    assert lines and lines[0]["error"]["code"] == -32600, data[:300]
    assert lines[0]["error"]["data"]["kind"] == "invalid_request"
    other.close()
    healthy("a 17 MiB line")


def test_line_just_under_the_limit_is_answered():
    # not part of the abuse: the limit is a limit, not a smaller number
    with Client(daemon().socket, timeout=60) as c:
        name = "y" * (15 << 20)
        m = c.call("note", {"note": name}, timeout=60)
        assert m["error"]["code"] == -32001, {k: str(v)[:200] for k, v in m.items()}
    healthy("a 15 MiB request")


def test_partial_line_then_silence():
    socks = []
    for i in range(20):
        s = raw()
        s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"sta')
        socks.append(s)
    t0 = time.monotonic()
    healthy("20 clients with half a request each")
    assert time.monotonic() - t0 < 10
    for s in socks:
        s.close()
    healthy("the half-request clients gone")


def test_subscriber_that_never_reads():
    global D
    shared, D = D, None  # its own daemon: the shared one stays out of this
    try:
        never_reader()
    finally:
        if D is not None:
            peak[0] = max(peak[0], watch_rss())
            D.cleanup()
        D = shared


def never_reader():
    d = daemon()
    # a big result: many notes link to Ann, the subscriber re-gets all of them on every change
    big = "[[Ann Veld]] " + "padding words " * 2000 + "\n"
    for i in range(40):
        d.write("Flood/f%02d.md" % i, big)
    H.settle(Client(d.socket, timeout=30), quiet=0.5)
    s = raw()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall((json.dumps({"jsonrpc": "2.0", "id": 1, "method": "subscribe",
                           "params": {"method": "backlinks",
                                      "params": {"note": "Ann Veld", "unlinked": True}}})
               + "\n").encode())
    cut = False
    # keep changing the result; never read
    good = Client(d.socket, timeout=30)
    deadline = time.monotonic() + 120
    i = 0
    while time.monotonic() < deadline:
        d.write("Flood/f%02d.md" % (i % 40), big + "change %d [[Ann Veld]]\n" % i)
        i += 1
        time.sleep(0.02)
        if i % 25 == 0:
            assert good.request("status")["state"] == "ready"
            watch_rss()
            if "disconnecting it" in d.stderr():
                cut = True
                break
    print("  never-reading subscriber: %d changes, cut off: %s" % (i, cut))
    assert cut, "quipud kept buffering for a subscriber that never reads"
    data = read_until_closed(s, timeout=30)  # EOF after what was queued
    s.close()
    good.close()
    for i in range(40):
        d.remove("Flood/f%02d.md" % i)
    H.settle(Client(d.socket, timeout=30), quiet=0.5)
    healthy("a subscriber that never reads (%d bytes were waiting)" % len(data))


def test_thousand_connections_opened_and_dropped():
    d = daemon()
    # warm up first: the index's reader pool opens its connections lazily
    with Client(d.socket, timeout=30) as c:
        H.pipelined(c, [("backlinks", {"note": "Ann Veld", "unlinked": True})] * 64)
    before = len(os.listdir("/proc/%d/fd" % d.proc.pid))
    for i in range(1000):
        s = raw()
        if i % 3 == 1:
            s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"status"}\n')
        elif i % 3 == 2:
            s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"backlinks","params":{"note":"Ann Veld"}}')
        if i % 7 == 0:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")  # RST
        s.close()
    # in parallel too
    def burst():
        for _ in range(100):
            try:
                s = raw()
                s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"status"}\n')
                s.close()
            except OSError:
                pass
    ts = [threading.Thread(target=burst) for _ in range(5)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    deadline = time.monotonic() + 15
    while True:  # hung-up clients are closed as their events come in
        after = len(os.listdir("/proc/%d/fd" % d.proc.pid))
        if after <= before + 5 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    print("  descriptors before %d, after 1,500 connections %d" % (before, after))
    assert after <= before + 5, (before, after)
    healthy("1,500 connections opened and dropped")


def test_paths_outside_the_vault():
    with Client(daemon().socket) as c:
        for name in ["../../etc/passwd", "../../../../../../etc/passwd", "/etc/passwd",
                     "/etc/passwd.md", "People/../../etc/passwd", "People/../../../etc/shadow",
                     "..", "/", "",
                     os.path.realpath(daemon().abspath("People/Ann Veld.md")),
                     "%2e%2e/%2e%2e/etc/passwd", "..\\..\\etc\\passwd", "~/.ssh/id_rsa"]:
            for method, params in [("note", {"note": name}), ("backlinks", {"note": name}),
                                   ("mentions", {"note": name}), ("resolve", {"link": name}),
                                   ("tasks.blocks", {"note": name}),
                                   ("resolve", {"link": "Ann Veld", "from": name})]:
                m = c.call(method, params)
                text = json.dumps(m)
                assert "root:x:0:0" not in text and "root:*:" not in text, m
                if "error" in m:
                    assert m["error"]["code"] in (-32001, -32602), (method, name, m)
                elif method == "resolve":
                    p = m["result"]["path"]
                    assert p is None or not p.startswith(("/", "..")), (name, m)
                else:
                    # answered: must be a note of the vault (an absolute path
                    # naming a vault file would be the only excuse)
                    assert m["result"]["path"] == "People/Ann Veld.md", (method, name, m)
    healthy("paths outside the vault")


def test_nul_bytes_in_note_names():
    # "\u0000" is valid JSON (RFC 8259); a name holding it names no note:
    # -32001 or -32602 for that request (with its id), never file content.
    with Client(daemon().socket) as c:
        for name in ["People/Ann Veld.md\u0000../../etc/passwd", "Ann\u0000Veld", "\u0000",
                     "People/Ann Veld.md\u0000", "../../etc/passwd\u0000.md"]:
            for method, params in [("note", {"note": name}), ("backlinks", {"note": name}),
                                   ("resolve", {"link": name})]:
                rid = c.send(method, params)
                m = c.read_message(timeout=30)
                assert "root:x:0:0" not in json.dumps(m), m
                assert "error" in m or method == "resolve", (method, name, m)
                if "error" in m:
                    assert m["error"]["code"] in (-32001, -32602) and m["id"] == rid, (
                        method, name, m)
                else:
                    assert m["result"]["path"] is None, (name, m)
    healthy("NUL bytes in note names")


def test_batches_unknown_methods_and_bad_envelopes():
    with Client(daemon().socket) as c:
        c.send_raw(b'[{"jsonrpc":"2.0","id":1,"method":"status"}]\n')
        expect_error(c, -32600, "invalid_request")
        c.send_raw(b"[]\n")
        expect_error(c, -32600, "invalid_request")
        for bad in [b'{"jsonrpc":"1.0","id":1,"method":"status"}', b'{"id":1,"method":"status"}',
                    b'{"jsonrpc":"2.0","id":1}', b'{"jsonrpc":"2.0","id":1,"method":5}',
                    b'{"jsonrpc":"2.0","id":[1],"method":"status"}', b"5", b"null", b'"status"']:
            c.send_raw(bad + b"\n")
            expect_error(c, -32600, "invalid_request")
        for m in ["frobnicate", "", "status ", "STATUS", "../status", "subscribe.x"]:
            msg = c.call(m, {})
            assert msg["error"]["code"] == -32601, (m, msg)
            assert msg["error"]["data"]["kind"] == "method_not_found"
        msg = c.call("note", ["Ann Veld"])
        assert msg["error"]["code"] in (-32602, -32600), msg
        assert c.request("status")["state"] == "ready"
    healthy("batches and unknown methods")


def test_pipelined_flood_then_close_without_reading():
    s = raw()
    req = b'{"jsonrpc":"2.0","id":1,"method":"backlinks","params":{"note":"Ann Veld","unlinked":true}}\n'
    try:
        s.sendall(req * 20000)
    except OSError:
        pass
    s.close()
    time.sleep(1)
    healthy("20,000 pipelined requests, then a hang-up")


def test_zz_peak_rss():
    print("peak RSS of quipud under abuse: %d KiB (limit %d KiB; an ASan build, whose "
          "quarantine keeps freed memory resident)" % (peak[0], RSS_LIMIT_KIB))
    assert D is not None and D.proc.poll() is None
    D.cleanup()


if __name__ == "__main__":
    run_tests(globals())
