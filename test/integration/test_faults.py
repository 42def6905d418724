"""Fault injection against a real quipud: kill -9 during a cold index and
during incremental writes, a corrupt index file, files that vanish, cannot be
read, loop, are too big or are garbage, the inotify watch limit exhausted,
and a full disk under the index. After each, the daemon's answers must equal
those of a fresh index of the same files (hard_common.snapshot).

QP_FAULT_KILLS (default 20) sets the number of kill -9 points of each kind;
QP_FAULT_SEED fixes the random choices (printed).
"""

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hard_common as H  # noqa: E402
from qp_harness import Daemon, RpcError, run_tests  # noqa: E402
from test_soak import Soak  # noqa: E402

SEED = int(os.environ.get("QP_FAULT_SEED", str(random.randrange(1 << 30))))
KILLS = int(os.environ.get("QP_FAULT_KILLS", "20"))
print("faults: seed %d (QP_FAULT_SEED=%d to replay), %d kill points each"
      % (SEED, SEED, KILLS), flush=True)

PERSON = "---\ntype: person\ntags:\n- type/person\n---\n\n# Ann Veld\n\n- 2025-01-02: Mentioned in: A\n"
MEETING_A = "---\ntype: meeting\ntitle: A\ndate: '2025-01-02'\n---\n\nWith [[Ann Veld]].\n"


class Tmp:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="qp-faults-")
        self.vault = os.path.join(self.dir, "vault")
        os.makedirs(self.vault)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        subprocess.run(["chmod", "-R", "u+rwX", self.dir], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def remove_db(d):
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(d.db + suffix)
        except FileNotFoundError:
            pass


def compare_to(ref, c, vault, notes, label):
    live = H.snapshot(c, vault, notes)
    diffs = H.diff_snapshots(live, ref, "restarted", "fresh")
    if diffs:
        print("%s: %d answers differ" % (label, len(diffs)), flush=True)
    return len(diffs)


def assert_serving(d, person="People/Ann Veld.md", linked=None):
    """The daemon is alive and answers a normal client correctly."""
    assert d.proc.poll() is None, "quipud exited:\n" + d.stderr()[-4000:]
    with d.client(timeout=30) as c:
        st = c.request("status", {})
        assert st["state"] == "ready", st
        if linked is not None:
            b = c.request("backlinks", {"note": person})
            got = sorted(s["path"] for s in b["linked"])
            assert got == sorted(linked), got
        return st


# -- kill -9 -----------------------------------------------------------------

def test_kill9_during_cold_index():
    rng = random.Random(SEED)
    with Tmp() as t:
        H.generate_vault(t.vault, rng, people=100, meetings=1600, others=300)
        allnotes = H.list_notes(t.vault)
        assert len(allnotes) == 2000
        people = [n for n in allnotes if n.startswith("People/")]
        notes = people + rng.sample([n for n in allnotes if n not in people], 60)
        t0 = time.monotonic()
        with Daemon(vault=t.vault, timeout=300) as ref_d:
            cold = time.monotonic() - t0
            ref = H.snapshot(ref_d.client(timeout=60), t.vault, notes)
        print("cold index of 2000 notes: %.2f s; %s" % (cold, H.answer_stats(ref)), flush=True)

        d = Daemon(vault=t.vault, start=False, timeout=300)
        mismatches = landed = tries = 0
        try:
            # The first cold index above ran on a cold page cache; later ones are
            # often several times faster, so a kill that misses the scan shrinks
            # the window the next delays are drawn from.
            window = cold * 0.7
            while landed < KILLS and tries < KILLS * 5:
                tries += 1
                removed = rng.random() < 0.7
                if removed:
                    remove_db(d)  # a cold index, not the resumption of one
                d.start(wait_ready=False)
                delay = rng.uniform(0.0, window)
                time.sleep(delay)
                with d.client(timeout=30) as c:
                    st = c.request("status", {})
                rc = d.stop(signal.SIGKILL)
                assert rc == -signal.SIGKILL, rc
                if st["state"] != "scanning":
                    if removed:
                        window = max(0.05, delay * 0.8)
                    continue
                landed += 1
                d.start(wait_ready=True)
                with d.client(timeout=60) as c:
                    n = compare_to(ref, c, t.vault, notes, "kill %d at %.2fs (%d/%d done)"
                                   % (landed, delay, st["progress"]["done"],
                                      st["progress"]["total"]))
                mismatches += n
                d.stop()
        finally:
            d.cleanup()
        print("kill -9 during the cold index: %d kills while scanning (%d tries), %d mismatches"
              % (landed, tries, mismatches), flush=True)
        assert landed >= KILLS, "only %d kills landed while scanning" % landed
        assert mismatches == 0


def test_kill9_during_incremental_writes():
    rng = random.Random(SEED + 1)
    with Tmp() as t:
        H.generate_vault(t.vault, rng, people=25, meetings=250, others=50)
        soak = Soak(t.vault, rng)
        d = Daemon(vault=t.vault, timeout=120)
        mismatches = kills = 0
        ops = 0
        try:
            for i in range(KILLS):
                names = soak.names()
                n = rng.randrange(10, 60)
                k = rng.randrange(n)
                for j in range(n):
                    soak.step(names)
                    ops += 1
                    if j == k:
                        time.sleep(rng.uniform(0, 0.05))
                        rc = d.stop(signal.SIGKILL)
                        assert rc == -signal.SIGKILL, rc
                        kills += 1
                d.start(wait_ready=True)
                c = d.client(timeout=60)
                H.settle(c, quiet=0.3)
                diffs, _ = H.live_vs_cold(c, t.vault, tmp_parent=t.dir, label="kill %d" % (i + 1))
                if diffs:
                    print("kill %d after op %d of %d: %d answers differ"
                          % (i + 1, k + 1, n, len(diffs)), flush=True)
                mismatches += len(diffs)
        finally:
            d.cleanup()
        print("kill -9 during incremental writes: %d kills, %d operations, %d mismatches"
              % (kills, ops, mismatches), flush=True)
        assert mismatches == 0


# -- the index file ------------------------------------------------------------

def corrupt_garbage(path, rng):
    size = max(os.path.getsize(path), 4096)
    with open(path, "wb") as f:
        f.write(bytes(rng.randrange(256) for _ in range(size)))


def corrupt_truncate(path, rng):
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 3)


def corrupt_pages(path, rng):
    # The header survives (SQLite opens the file) but b-tree pages are junk.
    with open(path, "r+b") as f:
        size = os.path.getsize(path)
        for off in range(4096, size, 4096):
            f.seek(off + 100)
            f.write(bytes(rng.randrange(256) for _ in range(512)))


def corrupt_empty(path, rng):
    open(path, "wb").close()


def test_corrupt_index_is_rebuilt():
    rng = random.Random(SEED + 2)
    with Tmp() as t:
        H.generate_vault(t.vault, rng, people=10, meetings=40, others=10)
        ref = H.cold_snapshot(t.vault, tmp_parent=t.dir)
        for how in (corrupt_garbage, corrupt_truncate, corrupt_pages, corrupt_empty):
            d = Daemon(vault=t.vault, timeout=120)
            try:
                d.stop()
                for suffix in ("-wal", "-shm"):
                    if os.path.exists(d.db + suffix):
                        os.unlink(d.db + suffix)
                how(d.db, rng)
                d.stderr_lines = []
                d.start(wait_ready=True)
                c = d.client(timeout=60)
                H.settle(c)
                n = compare_to(ref, c, t.vault, None, how.__name__)
                log = d.stderr()
                assert n == 0, "%s: %d answers differ" % (how.__name__, n)
                assert d.proc.poll() is None
                said = [ln for ln in log.splitlines()
                        if "rebuilt" in ln or "corrupt" in ln.lower() or "malformed" in ln]
                print("%s: answers equal a fresh index; log: %s"
                      % (how.__name__, said[0].strip() if said else "(nothing said)"), flush=True)
                if how is corrupt_garbage:
                    # not a database at all: it must be thrown away, and said so
                    assert said, "%s: the daemon did not log the rebuild:\n%s" % (
                        how.__name__, log[-3000:])
            finally:
                d.cleanup()


# -- hostile files ---------------------------------------------------------

def base_files(vault):
    H.write(vault, "People/Ann Veld.md", PERSON)
    H.write(vault, "Meetings/A.md", MEETING_A)


def live_vs_cold(d, vault, tmp_parent):
    c = d.client(timeout=60)
    H.settle(c)
    diffs, cold = H.live_vs_cold(c, vault, tmp_parent=tmp_parent)
    return cold, len(diffs)


def test_files_that_vanish():
    rng = random.Random(SEED + 3)
    with Tmp() as t:
        base_files(t.vault)
        with Daemon(vault=t.vault) as d:
            for i in range(300):
                rel = "Flash/f%d.md" % (i % 17)
                p = os.path.join(t.vault, rel)
                k = rng.randrange(4)
                if k == 0:
                    H.write(t.vault, rel, "[[Ann Veld]] %d\n" % i)
                    os.unlink(p)
                elif k == 1:
                    H.write(t.vault, rel, "[[Ann Veld]]\n")
                    os.rename(p, p + ".gone")
                    os.unlink(p + ".gone")
                elif k == 2:
                    H.write(t.vault, "Flash/sub%d/x.md" % i, "[[Ann Veld]]\n")
                    shutil.rmtree(os.path.join(t.vault, "Flash/sub%d" % i))
                else:
                    H.write(t.vault, rel, "[[Ann Veld]] %d\n" % i)
                    time.sleep(0.002)
                    os.unlink(p)
            H.settle(d.client(timeout=30))
            st = assert_serving(d, linked=["Meetings/A.md"])
            assert st["files"] == 2, st
            _, n = live_vs_cold(d, t.vault, t.dir)
            assert n == 0


def test_unreadable_file():
    with Tmp() as t:
        base_files(t.vault)
        H.write(t.vault, "Secret.md", "[[Ann Veld]]\n")
        os.chmod(os.path.join(t.vault, "Secret.md"), 0)
        try:
            open(os.path.join(t.vault, "Secret.md")).close()
            print("skipped: running as uid %d, chmod 000 does not stop reads" % os.geteuid())
            return
        except PermissionError:
            pass
        with Daemon(vault=t.vault) as d:
            assert_serving(d, linked=["Meetings/A.md"])
            H.write(t.vault, "Later.md", "[[Ann Veld]]\n")
            os.chmod(os.path.join(t.vault, "Later.md"), 0)
            H.write(t.vault, "Fine.md", "[[Ann Veld]]\n")
            time.sleep(1)
            assert_serving(d, linked=["Meetings/A.md", "Fine.md"])


def test_special_files_and_symlink_loops():
    with Tmp() as t:
        base_files(t.vault)
        v = t.vault
        os.makedirs(os.path.join(v, "L/a/b"))
        os.symlink("..", os.path.join(v, "L/a/b/up"))
        os.symlink(".", os.path.join(v, "L/self"))
        os.symlink("y.md", os.path.join(v, "L/x.md"))
        os.symlink("x.md", os.path.join(v, "L/y.md"))
        os.symlink(v, os.path.join(v, "L/root"))
        os.symlink("/dev/zero", os.path.join(v, "zero.md"))
        os.symlink("/dev/urandom", os.path.join(v, "random.md"))
        os.symlink("/etc/passwd", os.path.join(v, "passwd.md"))
        os.mkfifo(os.path.join(v, "pipe.md"))
        H.write(v, "L/a/b/note.md", "[[Ann Veld]] in a deep folder\n")
        with Daemon(vault=v, timeout=60) as d:
            assert_serving(d, linked=["Meetings/A.md", "L/a/b/note.md"])
            # the same things appearing while it runs
            os.makedirs(os.path.join(v, "M/c"))
            os.symlink("../..", os.path.join(v, "M/c/up"))
            os.mkfifo(os.path.join(v, "M/pipe2.md"))
            os.symlink("/dev/zero", os.path.join(v, "M/zero2.md"))
            H.write(v, "M/c/n.md", "[[Ann Veld]] again\n")
            H.settle(d.client(timeout=30))
            st = assert_serving(d, linked=["Meetings/A.md", "L/a/b/note.md", "M/c/n.md"])
            print("loops, fifos, /dev/zero: still serving; status %s"
                  % {k: st[k] for k in H.STATUS_KEYS})
            with d.client() as c:
                for name in ("passwd.md", "zero.md", "pipe.md"):
                    msg = c.call("note", {"note": name})
                    text = str(msg)
                    assert "root:x:0" not in text, msg


def test_file_over_size_limit():
    # One policy at start-up and live (lib/ingest.c, issue 17 bug 4): a note
    # over 8 MiB is not read; it is kept as an attachment (a link target, its
    # own links unseen) with a problem, and quipud logs it. Memory stays
    # bounded whatever the size.
    with Tmp() as t:
        base_files(t.vault)
        filler = ("lorem ipsum dolor sit amet " * 40 + "\n")
        big9 = "[[Ann Veld]] at the top\n" + filler * (9 * 1024 * 1024 // len(filler))
        big65 = "[[Ann Veld]] at the top\n" + filler * (65 * 1024 * 1024 // len(filler))
        H.write(t.vault, "Big9.md", big9)
        H.write(t.vault, "Big65.md", big65)
        with Daemon(vault=t.vault, timeout=120) as d:
            st = assert_serving(d, linked=["Meetings/A.md"])
            for name in ("Big9.md", "Big65.md"):
                over = [ln for ln in d.stderr().splitlines() if name in ln]
                assert over and "larger than 8 MiB" in over[0], over
            assert st["files"] == 4, st
            # the same files appearing while it runs
            os.rename(os.path.join(t.vault, "Big65.md"), os.path.join(t.vault, "Sub65.md"))
            H.write(t.vault, "Big9b.md", big9)
            H.write(t.vault, "Small.md", "[[Ann Veld]]\n")
            live, n = live_vs_cold(d, t.vault, t.dir)
            assert n == 0
            st = assert_serving(d, linked=["Meetings/A.md", "Small.md"])
            assert st["files"] == 6, st
            with d.client(timeout=30) as c:
                for name in ("Big9.md", "Big9b.md", "Sub65.md"):
                    r = c.request("note", {"note": name})
                    assert r["kind"] == "attachment" and r["links"] == [], (name, r)
            print("9 and 65 MiB notes kept as attachments, live and at start: %s" % over[0][:120])


def test_garbage_and_malformed_files():
    rng = random.Random(SEED + 4)
    with Tmp() as t:
        base_files(t.vault)
        v = t.vault
        H.write(v, "bin.md", bytes(rng.randrange(256) for _ in range(20000)))
        H.write(v, "nul.md", b"[[Ann Veld]]\x00\x00 after nul\n\x00")
        H.write(v, "latin1.md", "caf\xe9 [[Ann Veld]] d\xe9j\xe0\n".encode("latin-1"))
        H.write(v, "bad-yaml.md", "---\ntype: [person\nname: 'x\n---\n\n[[Ann Veld]] in body\n")
        H.write(v, "tab-yaml.md", "---\n\ttype: person\n: :\n---\n[[Ann Veld]]\n")
        H.write(v, "unterminated.md", "---\ntype: person\n[[Ann Veld]]\n")
        H.write(v, "overlong.md", b"\xc0\xaf\xed\xa0\x80 [[Ann Veld]] \xf8\x88\x80\x80\x80\n")
        with Daemon(vault=v) as d:
            c = d.client()
            n = c.request("note", {"note": "bad-yaml.md"})
            assert n["kind"] == "note" and n["properties"] in ({}, None), n
            linked = sorted(s["path"] for s in
                            c.request("backlinks", {"note": "Ann Veld"})["linked"])
            assert "bad-yaml.md" in linked and "Meetings/A.md" in linked, linked
            assert "latin1.md" in linked, linked
            H.write(v, "bin2.md", bytes(rng.randrange(256) for _ in range(50000)))
            H.write(v, "bad-yaml2.md", "---\n- [ unclosed\n---\n[[Ann Veld]]\n")
            live, nd = live_vs_cold(d, v, t.dir)
            assert nd == 0
            assert_serving(d)
            print("garbage files: Ann Veld linked from %s" % linked)


# -- watch limit, disk full -------------------------------------------------------

def test_watch_limit_exhausted_rescan_finds_everything():
    rng = random.Random(SEED + 5)
    with Tmp() as t:
        H.generate_vault(t.vault, rng, people=10, meetings=30, others=15)
        soak = Soak(t.vault, rng)
        with Daemon(vault=t.vault, args=["--watch-limit", "2"], timeout=60) as d:
            assert "falling back to rescans" in d.stderr(), d.stderr()
            c = d.client(timeout=60)
            mismatches = 0
            for burst in range(4):
                names = soak.names()
                for _ in range(15):
                    soak.step(names)
                # the degraded-mode rescan runs every 2 s
                H.settle(c, quiet=2.6, timeout=90)
                diffs, _ = H.live_vs_cold(c, t.vault, tmp_parent=t.dir, label="burst %d" % burst)
                mismatches += len(diffs)
            print("watch limit 2: %d operations, %d mismatches" % (sum(soak.ops.values()),
                                                                   mismatches))
            assert mismatches == 0


def try_mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path],
                       capture_output=True, text=True)
    return r.returncode == 0, r.stderr.strip()


def test_disk_full():
    rng = random.Random(SEED + 6)
    with Tmp() as t:
        mnt = os.path.join(t.dir, "small")
        ok, why = try_mount_tmpfs(mnt, "8m")
        if not ok:
            print("skipped: cannot mount a tmpfs for the index (%s)" % why)
            return
        try:
            H.generate_vault(t.vault, rng, people=10, meetings=40, others=10)
            d = Daemon(vault=t.vault, start=False, timeout=60)
            d.db = os.path.join(mnt, "index.sqlite3")
            try:
                d.start()
                c = d.client(timeout=30)
                H.settle(c)
                before = c.request("backlinks", {"note": "People/" + os.listdir(
                    os.path.join(t.vault, "People"))[0], "unlinked": True})
                # fill the file system (unbuffered: a buffered close would
                # raise ENOSPC again, outside the except)
                with open(os.path.join(mnt, "filler"), "wb", buffering=0) as f:
                    try:
                        while True:
                            f.write(b"\0" * 65536)
                    except OSError:
                        pass
                # changes the index cannot take
                for i in range(40):
                    H.write(t.vault, "Overflow/n%d.md" % i,
                            ("[[%s]] " % "Ann Veld" + "word%d " % i * 200 + "\n") * 30)
                time.sleep(3)
                assert d.proc.poll() is None, "quipud exited:\n" + d.stderr()[-4000:]
                st = c.request("status", {})
                again = c.request("backlinks", {"note": before["path"], "unlinked": True})
                assert again["path"] == before["path"]
                log = d.stderr()
                full = [ln for ln in log.splitlines() if "full" in ln.lower() and "event" not in ln]
                print("disk full: reads answered (status files %d); log: %s"
                      % (st["files"], full[0] if full else "(nothing said)"), flush=True)
                assert full, "no word about the full disk:\n" + log[-3000:]
                # room again: the daemon retries and catches up
                os.unlink(os.path.join(mnt, "filler"))
                deadline = time.monotonic() + 60
                while True:
                    H.settle(c, quiet=1.0)
                    live = H.snapshot(c, t.vault)
                    cold = H.cold_snapshot(t.vault, tmp_parent=t.dir)
                    if live == cold:
                        break
                    if time.monotonic() > deadline:
                        H.diff_snapshots(live, cold)
                        raise AssertionError("the index did not catch up after the disk "
                                             "had room again")
                    time.sleep(1)
                nfail = sum(1 for ln in d.stderr().splitlines() if "index write" in ln)
                print("disk full: caught up after room came back; %d failed writes logged"
                      % nfail)
            finally:
                d.cleanup()
        finally:
            subprocess.run(["umount", "-l", mnt], check=False)


if __name__ == "__main__":
    run_tests(globals())
