"""What quipud does with a note it cannot index as a note (issue 17, bugs 4
and 5), the same whether the file is there at start-up or written while it
runs: over 8 MiB or binary, it is an attachment (still a link target) and
the index keeps the problem; its bytes are not held in memory."""

import os
import random
import re
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_harness import Daemon, RpcError, run_tests  # noqa: E402

LIMIT = 8 * 1024 * 1024
TOO_BIG = "larger than 8 MiB: indexed as an attachment, not as a note"
BINARY = ("binary content (NUL bytes or mostly invalid UTF-8): indexed as an attachment, "
          "not as a note")


def big_note(size):
    """A note of `size` bytes with a link on its first line and one near its end."""
    head = b"[[First]]\n"
    tail = b"\n[[Last]]\n"
    return head + b"a" * (size - len(head) - len(tail)) + tail


def random_bytes(n, seed):
    r = random.Random(seed)
    return bytes(r.randrange(1, 256) for _ in range(n))  # no NUL: invalid UTF-8 alone


def problems(d, rel):
    """The diagnostics the index keeps for `rel`, as (severity, line, msg)."""
    db = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True, timeout=10)
    try:
        return db.execute("SELECT d.severity, d.line, d.msg FROM diags d JOIN files f"
                          " ON f.id = d.file WHERE f.path = ? ORDER BY d.rowid", (rel,)).fetchall()
    finally:
        db.close()


def wait_note(c, rel, pred, timeout=60.0):
    """Polls `note` for rel until pred(result) holds; returns the result."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = c.request("note", {"note": rel})
            if pred(last):
                return last
        except RpcError as e:
            last = e
        time.sleep(0.1)
    raise AssertionError("note %s never matched: %r" % (rel, last))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def is_attachment(r):
    return r.get("kind") == "attachment"


def test_huge_note_same_at_start_and_live():
    files = {"s.md": "[[start]] [[live]]\n", "start.md": big_note(LIMIT + 1),
             "limit.md": big_note(LIMIT)}
    with Daemon(files) as d:
        c = d.client()
        r = c.request("note", {"note": "start.md"})
        assert is_attachment(r) and r["links"] == [], r
        assert problems(d, "start.md") == [(0, 0, TOO_BIG)], problems(d, "start.md")
        # At the limit it is a note, read to its end: the last link is there.
        r = c.request("note", {"note": "limit.md"})
        assert [l["target"] for l in r["links"]] == ["First", "Last"], r["links"]
        assert problems(d, "limit.md") == []

        # Written while quipud runs: the same policy, and the 60 MB are
        # never read (a read would show in the resident size).
        # Written atomically: a plain write is seen while it is still under
        # the limit, and that partial note is (rightly) parsed.
        rss0 = rss_kib(d.proc.pid)
        d.write_atomic("live.md", big_note(60 * 1024 * 1024))
        r = wait_note(c, "live.md", is_attachment)
        assert r["links"] == [], r
        assert problems(d, "live.md") == [(0, 0, TOO_BIG)], problems(d, "live.md")
        grew = rss_kib(d.proc.pid) - rss0
        assert grew < 40 * 1024, "quipud grew by %d KiB indexing a 60 MB note" % grew
        # Still a link target.
        res = c.request("resolve", {"link": "live", "from": "s.md"})
        assert res["path"] == "live.md", res

        # Cut back under the limit: a note again, the problem gone.
        # An in-place write truncates first: the daemon may see the empty
        # note before the text, so wait for the final state, not the first.
        d.write("live.md", "[[Only]]\n")
        r = wait_note(c, "live.md", lambda r: not is_attachment(r) and
                      [l["target"] for l in r["links"]] == ["Only"])
        assert [l["target"] for l in r["links"]] == ["Only"], r
        assert problems(d, "live.md") == []
        rc = d.stop()
        assert rc == 0, rc


def test_binary_note_same_at_start_and_live():
    files = {"start.md": b"#E" + random_bytes(4096, 1), "nul.md": b"text\0#tag\n"}
    with Daemon(files) as d:
        c = d.client()
        for rel in ("start.md", "nul.md"):
            r = c.request("note", {"note": rel})
            assert is_attachment(r) and r["tags"] == [], (rel, r)
            assert problems(d, rel) == [(0, 0, BINARY)], (rel, problems(d, rel))
        d.write("live.md", b"#E " + random_bytes(4096, 2))
        r = wait_note(c, "live.md", is_attachment)
        assert r["tags"] == [], r
        assert problems(d, "live.md") == [(0, 0, BINARY)]


def test_scan_batches_bounded_in_bytes():
    """A scan cuts its write batches at 16 MiB of parsed notes as well as
    at 1000 notes (daemon/changes.c): a parsed note waits in memory until
    written, so 600 notes of 20 KB are never all held at once. A parsed
    note holds at least its source and its mention text (40 KB here), so a
    batch holds at most 16 MiB / 40 KB = 419 notes, plus one parse job
    (64 paths) past the cut: <= 483."""
    note = ("[[Hub]] " + "word " * 4000 + "\n").encode()
    files = {"n%03d.md" % i: note for i in range(600)}
    with Daemon(files) as d:
        assert d.client().request("status")["files"] == 600
        sizes = [int(n) for n in re.findall(r"committed (\d+) changes", d.stderr())]
        assert sum(sizes) == 600, sizes
        assert len(sizes) >= 2 and max(sizes) <= 483, sizes
        rc = d.stop()
        assert rc == 0, rc


if __name__ == "__main__":
    run_tests(globals())
