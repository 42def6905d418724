"""quipud subscriptions against every kind of file change: the pushed result
is what is asserted. Also the rescan fallback when directories cannot be
watched, and that nothing is pushed when a result does not change."""

import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_harness import Daemon, run_tests  # noqa: E402

PERSON = """---
type: person
tags:
- type/person
---

# Ann Veld
"""


def meeting(title, date, body):
    return "---\ntype: meeting\ntitle: %s\ndate: '%s'\n---\n\n# %s\n\n%s\n" % (
        title, date, title, body)


BASE = {
    "People/Ann Veld.md": PERSON,
    "People/Bo Stern.md": PERSON.replace("Ann Veld", "Bo Stern"),
    "Meetings/2025/a.md": meeting("A", "2025-01-01", "With [[Ann Veld]]."),
    "Meetings/2025/b.md": meeting("B", "2025-01-02", "With [[Bo Stern]]."),
    "Inbox/notes.md": "# Notes\n\nnothing yet\n",
}


def linked(result):
    return sorted(s["path"] for s in result["linked"])


class Watch:
    """A daemon with a backlinks subscription on Ann Veld."""

    def __init__(self, files=None, args=()):
        self.d = Daemon(files=files or BASE, args=args)
        self.c = self.d.client(timeout=15)
        sub = self.c.request("subscribe", {"method": "backlinks",
                                           "params": {"note": "Ann Veld"}})
        self.sub = sub["subscription"]
        self.first = sub["result"]

    def expect(self, want, timeout=15):
        """Waits for a pushed backlinks result whose sources are `want`."""
        want = sorted(want)
        upd = self.c.wait_update(self.sub, lambda r: linked(r) == want, timeout=timeout)
        assert upd["generation"] >= 1
        return upd

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.d.cleanup()


A = "Meetings/2025/a.md"


def test_subscribe_returns_result():
    with Watch() as w:
        assert linked(w.first) == [A]
        assert w.first["path"] == "People/Ann Veld.md"


def test_in_place_write():
    with Watch() as w:
        w.d.write("Inbox/notes.md", "# Notes\n\nmet [[Ann Veld]]\n")
        u = w.expect([A, "Inbox/notes.md"])
        occ = [s for s in u["result"]["linked"] if s["path"] == "Inbox/notes.md"][0]
        assert occ["occurrences"][0]["line"] == 3 and occ["occurrences"][0]["column"] == 5
        # and back
        w.d.write("Inbox/notes.md", "# Notes\n\nno link now\n")
        w.expect([A])


def test_temp_and_rename():
    with Watch() as w:
        w.d.write_atomic("Meetings/2025/b.md", meeting("B", "2025-01-02",
                                                       "With [[Bo Stern]] and [[Ann Veld]]."))
        w.expect([A, "Meetings/2025/b.md"])
        w.d.write_atomic(A, meeting("A", "2025-01-01", "Nobody."))
        w.expect(["Meetings/2025/b.md"])


def test_create_and_delete():
    with Watch() as w:
        w.d.write("New note.md", "[[Ann Veld]]\n")
        w.expect([A, "New note.md"])
        w.d.remove("New note.md")
        w.expect([A])
        w.d.remove(A)
        w.expect([])


def test_rename_and_move_between_folders():
    with Watch() as w:
        w.d.rename(A, "Meetings/2025/a renamed.md")
        w.expect(["Meetings/2025/a renamed.md"])
        w.d.rename("Meetings/2025/a renamed.md", "Archive/a.md")
        w.expect(["Archive/a.md"])
        # the new folder is watched: a change inside it is seen
        w.d.write("Archive/c.md", "[[Ann Veld]]\n")
        w.expect(["Archive/a.md", "Archive/c.md"])


def test_renaming_the_person_unresolves_links():
    with Watch() as w:
        c2 = w.d.client()
        sub = c2.request("subscribe", {"method": "resolve", "params": {"link": "Ann Veld"}})
        assert sub["result"]["path"] == "People/Ann Veld.md"
        w.d.rename("People/Ann Veld.md", "People/Former/Ann Veld.md")
        u = c2.wait_update(sub["subscription"],
                           lambda r: r["path"] == "People/Former/Ann Veld.md")
        assert u["result"]["path"] == "People/Former/Ann Veld.md"
        w.d.remove("People/Former/Ann Veld.md")
        c2.wait_update(sub["subscription"], lambda r: r["path"] is None)


def test_folder_moved_and_deleted():
    with Watch() as w:
        w.d.write("Meetings/2025/q1/c.md", "[[Ann Veld]]\n")
        w.expect([A, "Meetings/2025/q1/c.md"])
        w.d.rename("Meetings/2025", "Meetings/Y2025")
        w.expect(["Meetings/Y2025/a.md", "Meetings/Y2025/q1/c.md"])
        # the moved folder's subfolder is watched under its new name
        w.d.write("Meetings/Y2025/q1/d.md", "[[Ann Veld]]\n")
        w.expect(["Meetings/Y2025/a.md", "Meetings/Y2025/q1/c.md", "Meetings/Y2025/q1/d.md"])
        # moved out of the vault: gone
        shutil.move(w.d.abspath("Meetings/Y2025"), os.path.join(w.d.tmp, "outside"))
        w.expect([])
        # moved back in: found again, with its subfolders
        shutil.move(os.path.join(w.d.tmp, "outside"), w.d.abspath("Back"))
        w.expect(["Back/a.md", "Back/q1/c.md", "Back/q1/d.md"])
        # deleted
        w.d.remove("Back")
        w.expect([])
        st = w.c.request("status")
        assert st["files"] == 3, st  # two people and Inbox/notes.md


def test_folder_moved_and_made_again_at_once():
    """A folder moved away and one of the same name made at once (a tool
    that writes into Meetings/2025/ after Meetings was moved): the old
    path never looks missing, yet what was indexed under it is gone."""
    for attempt in range(5):
        with Watch() as w:
            w.d.write("Meetings/2025/q1/c.md", "[[Ann Veld]]\n")
            w.expect([A, "Meetings/2025/q1/c.md"])
            gen = w.c.request("status")["generation"]
            os.makedirs(w.d.abspath("Archive"))
            time.sleep(0.3)
            os.rename(w.d.abspath("Meetings"), w.d.abspath("Archive/Meetings"))
            os.makedirs(w.d.abspath("Meetings/2025"))
            with open(w.d.abspath("Meetings/2025/new.md"), "w") as f:
                f.write("[[Ann Veld]] again\n")
            want = ["Archive/Meetings/2025/a.md", "Archive/Meetings/2025/q1/c.md",
                    "Meetings/2025/new.md"]
            deadline = time.monotonic() + 15
            while True:
                st = w.c.request("status")
                got = linked(w.c.request("backlinks", {"note": "Ann Veld"}))
                if st["generation"] > gen and st["pending"] == 0 and got == want:
                    break
                assert time.monotonic() < deadline, (got, st)
                time.sleep(0.05)
            time.sleep(0.3)  # nothing stale comes back later
            assert linked(w.c.request("backlinks", {"note": "Ann Veld"})) == want
            st = w.c.request("status")
            assert st["files"] == 7, st  # 2 people, Inbox, 3 + Meetings/2025/new.md
            # the moved folder is watched under its new name, the new one too
            w.d.write("Archive/Meetings/2025/q1/d.md", "[[Ann Veld]]\n")
            w.d.write("Meetings/2025/q2/e.md", "[[Ann Veld]]\n")
            w.expect(want + ["Archive/Meetings/2025/q1/d.md", "Meetings/2025/q2/e.md"])


def test_many_files_at_once():
    with Watch() as w:
        # a git checkout: 300 files written as fast as possible
        for i in range(300):
            w.d.write("Batch/n%03d.md" % i, "# N%d\n\n[[Ann Veld]]\n" % i)
        u = w.expect([A] + ["Batch/n%03d.md" % i for i in range(300)], timeout=60)
        assert len(u["result"]["linked"]) == 301
        for i in range(0, 300, 2):
            os.unlink(w.d.abspath("Batch/n%03d.md" % i))
        w.expect([A] + ["Batch/n%03d.md" % i for i in range(1, 300, 2)], timeout=60)


def test_git_checkout():
    if shutil.which("git") is None:
        return
    files = dict(BASE)
    d = Daemon(files=files, start=False)
    try:
        def git(*args):
            subprocess.run(["git", "-C", d.vault, "-c", "user.email=t@e", "-c", "user.name=t"]
                           + list(args), check=True, capture_output=True)
        git("init", "-q", "-b", "main")
        git("add", "-A")
        git("commit", "-q", "-m", "base")
        git("checkout", "-q", "-b", "other")
        for i in range(200):
            d.write("Notes/g%03d.md" % i, "[[Ann Veld]] %d\n" % i)
        git("add", "-A")
        git("commit", "-q", "-m", "many")
        git("checkout", "-q", "main")
        d.start()
        c = d.client()
        sub = c.request("subscribe", {"method": "backlinks", "params": {"note": "Ann Veld"}})
        assert linked(sub["result"]) == [A]
        git("checkout", "-q", "other")
        want = sorted([A] + ["Notes/g%03d.md" % i for i in range(200)])
        c.wait_update(sub["subscription"], lambda r: linked(r) == want, timeout=60)
        git("checkout", "-q", "main")
        c.wait_update(sub["subscription"], lambda r: linked(r) == [A], timeout=60)
    finally:
        d.cleanup()


def test_no_update_when_result_unchanged():
    with Watch() as w:
        w.d.write("Inbox/notes.md", "# Notes\n\nstill nothing about anyone\n")
        # wait until the index has the change, then look for updates
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            n = w.c.request("note", {"note": "Inbox/notes.md"})
            if n["headings"] and w.c.request("status")["generation"] >= 2:
                break
            time.sleep(0.05)
        got = [u for u in w.c.drain(0.5) if u.get("params", {}).get("subscription") == w.sub]
        assert got == [], got


def test_unsubscribe_stops_updates():
    with Watch() as w:
        assert w.c.request("unsubscribe", {"subscription": w.sub}) is True
        w.d.write("X.md", "[[Ann Veld]]\n")
        other = w.d.client()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if len(other.request("backlinks", {"note": "Ann Veld"})["linked"]) == 2:
                break
            time.sleep(0.05)
        got = [u for u in w.c.drain(0.5) if u.get("method") == "update"]
        assert got == [], got


def test_ignored_paths_and_index_inside_vault():
    files = dict(BASE)
    d = Daemon(files=files, start=False)
    d.db = os.path.join(d.vault, "quipu-index.sqlite3")  # someone put it in the vault
    d.start()
    try:
        c = d.client()
        sub = c.request("subscribe", {"method": "status", "params": {}})
        files0 = sub["result"]["files"]
        d.write(".obsidian/workspace.json", "{}")
        d.write(".trash/old.md", "[[Ann Veld]]\n")
        d.write("Visible.md", "# V\n")
        u = c.wait_update(sub["subscription"], lambda r: r["files"] == files0 + 1)
        assert u["result"]["files"] == files0 + 1
        assert len(c.request("backlinks", {"note": "Ann Veld"})["linked"]) == 1
        # the index's own writes never show up as files
        assert c.request("resolve", {"link": "quipu-index.sqlite3"})["path"] is None
    finally:
        d.cleanup()


def test_watch_limit_falls_back_to_rescan():
    # only the root can be watched: changes in folders are seen by rescans
    with Watch(args=["--watch-limit", "1"]) as w:
        assert "falling back to rescans" in w.d.stderr(), w.d.stderr()
        w.d.write("Meetings/2025/c.md", "[[Ann Veld]]\n")
        w.expect([A, "Meetings/2025/c.md"], timeout=20)
        w.d.write("Deep/er/d.md", "[[Ann Veld]]\n")
        w.expect([A, "Meetings/2025/c.md", "Deep/er/d.md"], timeout=20)
        assert "scan: some directories are not watched" in w.d.stderr()


def test_periodic_rescan():
    with Watch(args=["--rescan-interval", "1"]) as w:
        w.d.write("P.md", "[[Ann Veld]]\n")
        w.expect([A, "P.md"])
        time.sleep(1.5)
        assert "scan: periodic" in w.d.stderr()


def test_watched_note_deleted_and_renamed_pushes_not_found():
    # issue 17 bug 3, the daemon's half: a subscription whose note goes away
    # gets an update carrying the protocol's not_found error (no result), and
    # results again when the note comes back (docs/protocol.md, "Push updates").
    with Watch() as w:
        c = w.d.client(timeout=15)
        subs = {}
        for m in ("note", "mentions"):
            subs[m] = c.request("subscribe", {"method": m, "params": {"note": "Ann Veld"}})[
                "subscription"]
        subs["backlinks"] = w.sub
        clients = {"note": c, "mentions": c, "backlinks": w.c}

        def expect_error():
            for m, s in subs.items():
                u = clients[m].wait_update(s, error=True)
                assert "result" not in u, u
                e = u["error"]
                assert e["code"] == -32001 and e["data"]["kind"] == "not_found", (m, e)
                assert "Ann Veld" in e["message"], e

        def expect_result():
            for m, s in subs.items():
                u = clients[m].wait_update(s)
                assert "error" not in u and u["result"]["path"] == "People/Ann Veld.md", (m, u)

        w.d.remove("People/Ann Veld.md")
        expect_error()
        w.d.write("People/Ann Veld.md", PERSON)
        expect_result()
        w.d.rename("People/Ann Veld.md", "People/Ann.md")
        expect_error()
        w.d.rename("People/Ann.md", "People/Ann Veld.md")
        expect_result()


if __name__ == "__main__":
    run_tests(globals())
