"""Differential soak: incremental == cold.

A seeded random sequence of vault operations (create, edit in place, atomic
save, rename, move, delete, whole folders created/moved/deleted, links and
aliases and tasks added and removed, person and meeting notes, "Mentioned in"
lines) is applied to a LIVE quipud in bursts. After each burst the daemon is
left to settle; at checkpoints and at the end every answer it gives (note,
backlinks with unlinked for every note, mentions and tasks.blocks for every
person, status counts) is compared with a fresh quipud indexing a copy of the
same files into a new, empty index. They must be identical.

QP_SOAK_SECONDS (default 40; `make soak` uses 600), QP_SOAK_SEED (default:
random, printed), QP_SOAK_OPS (stop after this many operations; default 400
for the short run, unlimited when QP_SOAK_SECONDS is set).
"""

import os
import random
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hard_common as H  # noqa: E402
from qp_harness import Daemon  # noqa: E402


def kind_of(text):
    head = text[:400]
    if "type: person" in head:
        return "person"
    if "type: meeting" in head:
        return "meeting"
    return "other"


def title_of(rel, text):
    for line in text[:400].splitlines():
        if line.startswith("title: "):
            return line[7:].strip().strip('"')
        if line.startswith("name: "):
            return line[6:].strip()
    return os.path.basename(rel)[:-3]


class Soak:
    def __init__(self, vault, rng):
        self.vault = vault
        self.rng = rng
        self.counter = 0
        self.ops = {}

    # -- the vault as it is now -------------------------------------------
    def files(self):
        return H.list_notes(self.vault)

    def dirs(self):
        out = []
        for root, dirs, _ in os.walk(self.vault):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for d in dirs:
                out.append(os.path.relpath(os.path.join(root, d), self.vault))
        return sorted(out)

    def read(self, rel):
        with open(os.path.join(self.vault, rel), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def names(self):
        n = H.Names()
        for rel in self.files():
            text = self.read(rel)
            k = kind_of(text)
            base = os.path.basename(rel)[:-3]
            if k == "person":
                n.people.append(base)
                for line in text.splitlines():
                    if line.startswith("- ") and line.endswith("ie"):
                        n.aliases.setdefault(base, []).append(line[2:])
            elif k == "meeting":
                n.meetings.append(title_of(rel, text))
            else:
                n.notes.append(base)
        return n

    def uniq(self):
        self.counter += 1
        return self.counter

    def folder(self):
        ds = [""] + [d for d in self.dirs()]
        return self.rng.choice(ds + H.FOLDERS)

    # -- content ------------------------------------------------------------
    def content(self, rel, kind, names):
        rng = self.rng
        base = os.path.basename(rel)[:-3]
        if kind == "person":
            al = [base.split()[0] + "ie"] if rng.random() < 0.4 else []
            return H.person_text(rng, base, names, al)
        if kind == "meeting":
            date = H.rand_date(rng)
            title = "%s %d on %s" % (rng.choice(H.FIRST), self.uniq(), rng.choice(H.TOPICS))
            return H.meeting_text(rng, title, date, names)
        return H.other_text(rng, names)

    def new_path(self, kind):
        rng = self.rng
        if kind == "person":
            name = H.person_name(rng)
            if rng.random() < 0.5:
                name += " %d" % self.uniq()
            return "%s/%s.md" % (rng.choice(["People", "People", "Team"]), name)
        if kind == "meeting":
            y = rng.choice([2024, 2025])
            return "Meetings/%d/%s %s sync %d.md" % (y, H.rand_date(rng, y), rng.choice(H.FIRST),
                                                    self.uniq())
        f = self.folder()
        return os.path.join(f, "Note %d %s.md" % (self.uniq(), rng.choice(H.TOPICS).split()[0]))

    # -- operations --------------------------------------------------------
    def op_create(self, names):
        kind = self.rng.choice(["person", "meeting", "other", "other"])
        rel = self.new_path(kind)
        H.write(self.vault, rel, self.content(rel, kind, names))

    def pick(self):
        fs = self.files()
        return self.rng.choice(fs) if fs else None

    def op_edit(self, names):
        rel = self.pick()
        if rel:
            kind = kind_of(self.read(rel))
            if self.rng.random() < 0.1:  # a note changes kind
                kind = self.rng.choice(["person", "meeting", "other"])
            H.write(self.vault, rel, self.content(rel, kind, names))

    def op_atomic(self, names):
        rel = self.pick()
        if rel:
            p = os.path.join(self.vault, rel)
            tmp = os.path.join(os.path.dirname(p), ".%s.tmp%d" % (os.path.basename(p), self.uniq()))
            with open(tmp, "w") as f:
                f.write(self.content(rel, kind_of(self.read(rel)), names))
            os.rename(tmp, p)

    def op_append(self, names):
        rel = self.pick()
        if rel:
            rng = self.rng
            k = rng.randrange(4)
            if k == 0:
                line = H.task_line(rng, names)
            elif k == 1 and names.meetings:
                line = "- %s: Mentioned in: %s" % (H.rand_date(rng), rng.choice(names.meetings))
            else:
                line = "Also %s." % H.ref(rng, names)
            with open(os.path.join(self.vault, rel), "a") as f:
                f.write("\n" + line + "\n")

    def op_remove_links(self, names):
        rel = self.pick()
        if rel:
            text = self.read(rel)
            text = text.replace("[[", "").replace("]]", "")
            H.write(self.vault, rel, text)

    def op_rename(self, names):
        rel = self.pick()
        if rel:
            d = os.path.dirname(rel)
            kind = kind_of(self.read(rel))
            new = os.path.join(d, os.path.basename(self.new_path(kind)))
            if self.rng.random() < 0.3 and names.people:  # take a person's name
                new = os.path.join(d, self.rng.choice(names.people) + ".md")
            self.move(rel, new)

    def op_move(self, names):
        rel = self.pick()
        if rel:
            self.move(rel, os.path.join(self.folder(), os.path.basename(rel)))

    def move(self, a, b):
        pa, pb = os.path.join(self.vault, a), os.path.join(self.vault, b)
        if os.path.exists(pb):
            return
        os.makedirs(os.path.dirname(pb), exist_ok=True)
        os.rename(pa, pb)

    def op_copy(self, names):
        rel = self.pick()
        if rel:
            b = os.path.join(self.folder(), os.path.basename(rel))
            if not os.path.exists(os.path.join(self.vault, b)):
                H.write(self.vault, b, self.read(rel))

    def op_delete(self, names):
        rel = self.pick()
        if rel:
            os.unlink(os.path.join(self.vault, rel))

    def op_new_folder(self, names):
        rng = self.rng
        d = "Batch %d/%s" % (self.uniq(), rng.choice(["a", "b c", "deep/er"]))
        for _ in range(rng.randrange(1, 5)):
            kind = rng.choice(["person", "meeting", "other"])
            rel = os.path.join(d, os.path.basename(self.new_path(kind)))
            H.write(self.vault, rel, self.content(rel, kind, names))

    def op_move_folder(self, names):
        ds = self.dirs()
        if ds:
            src = self.rng.choice(ds)
            parent = self.rng.choice([""] + [x for x in ds if not (x + "/").startswith(src + "/")])
            dst = os.path.join(parent, "Moved %d" % self.uniq())
            os.rename(os.path.join(self.vault, src), os.path.join(self.vault, dst))

    def op_delete_folder(self, names):
        ds = [d for d in self.dirs() if d.startswith(("Batch", "Moved", "Inbox", "Archive",
                                                      "Projects", "Team", "Areas"))
              or "/Moved" in d]
        if ds:
            shutil.rmtree(os.path.join(self.vault, self.rng.choice(ds)))

    def op_attachment(self, names):
        rel = os.path.join(self.folder(), "img %d.png" % self.uniq())
        H.write(self.vault, rel, b"\x89PNG\r\n\x1a\n" + bytes(self.rng.randrange(256)
                                                               for _ in range(64)))
        tgt = self.pick()
        if tgt:
            with open(os.path.join(self.vault, tgt), "a") as f:
                f.write("\n![[%s]]\n" % os.path.basename(rel))

    WEIGHTS = [("create", 10), ("edit", 10), ("atomic", 8), ("append", 10), ("remove_links", 3),
               ("rename", 6), ("move", 5), ("copy", 2), ("delete", 7), ("new_folder", 2),
               ("move_folder", 2), ("delete_folder", 1), ("attachment", 1)]

    def step(self, names):
        total = sum(w for _, w in self.WEIGHTS)
        x = self.rng.randrange(total)
        for name, w in self.WEIGHTS:
            if x < w:
                getattr(self, "op_" + name)(names)
                self.ops[name] = self.ops.get(name, 0) + 1
                return name
            x -= w


def compare(c, vault, label):
    diffs, cold = H.live_vs_cold(c, vault, label=label)
    st = H.answer_stats(cold)
    print("checkpoint %s: %d notes, %d answers compared (%s), %d mismatches"
          % (label, len(H.list_notes(vault)), len(cold),
             ", ".join("%s %d" % kv for kv in sorted(st.items())), len(diffs)), flush=True)
    # a comparison of empty answers would prove nothing
    assert st["linked"] > 0 and st["people"] > 0, st
    return len(diffs)


def run():
    seconds = float(os.environ.get("QP_SOAK_SECONDS", "40"))
    max_ops = int(os.environ.get("QP_SOAK_OPS", "0" if "QP_SOAK_SECONDS" in os.environ else "400"))
    seed = int(os.environ.get("QP_SOAK_SEED", str(random.randrange(1 << 30))))
    print("soak: seed %d, %.0f s%s (QP_SOAK_SEED=%d to replay)"
          % (seed, seconds, ", at most %d ops" % max_ops if max_ops else "", seed), flush=True)
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="qp-soak-")
    vault = os.path.join(tmp, "vault")
    os.makedirs(vault)
    H.generate_vault(vault, rng, people=12, meetings=30, others=15)
    soak = Soak(vault, rng)
    mismatches = 0
    nops = 0
    bursts = 0
    try:
        with Daemon(vault=vault, timeout=120) as d:
            c = d.client(timeout=60)
            start = time.monotonic()
            checkpoints = [seconds / 3, 2 * seconds / 3]
            while True:
                elapsed = time.monotonic() - start
                if elapsed >= seconds or (max_ops and nops >= max_ops):
                    break
                names = soak.names()
                for _ in range(rng.randrange(1, 7)):
                    soak.step(names)
                    nops += 1
                    if rng.random() < 0.3:
                        time.sleep(rng.random() * 0.02)
                bursts += 1
                H.settle(c, quiet=0.3)
                assert d.proc.poll() is None, "quipud exited:\n" + d.stderr()
                if checkpoints and time.monotonic() - start >= checkpoints[0]:
                    checkpoints.pop(0)
                    mismatches += compare(c, vault, "after %d ops" % nops)
            H.settle(c, quiet=0.5)
            mismatches += compare(c, vault, "final, %d ops" % nops)
            assert d.proc.poll() is None, "quipud exited:\n" + d.stderr()
    finally:
        print("soak: seed %d, %d operations in %d bursts (%s), %d mismatches"
              % (seed, nops, bursts, ", ".join("%s %d" % kv for kv in sorted(soak.ops.items())),
                 mismatches), flush=True)
        if mismatches:
            keep = tmp + ".failed"
            shutil.move(tmp, keep)
            print("soak: final vault kept in %s" % keep)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    assert mismatches == 0, "%d answers differ between the live and the cold index" % mismatches


def test_soak_incremental_equals_cold():
    run()


if __name__ == "__main__":
    from qp_harness import run_tests
    run_tests([test_soak_incremental_equals_cold])
