"""hard_common — shared by the hardening tests (soak, faults, hostile).

A generator of person/meeting/other notes in the shape of
spec/note-format.md, a "snapshot" of every answer quipud gives about a vault
(so a live, incrementally updated daemon can be compared with a cold index of
the same files), waiting until a daemon has settled, and reading its RSS.
Python 3 standard library only.
"""

import difflib
import json
import os
import random
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_harness import Daemon, RpcError  # noqa: E402,F401

FIRST = ["Ann", "Bo", "Cara", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai",
         "Lena", "Mo", "Nia", "Omar", "Pia", "Quin", "Rob", "Sana", "Tom"]
LAST = ["Veld", "Stern", "Lindqvist", "Castell", "Kestrel", "Okafor", "Brandt", "Moreau",
        "Ishida", "Novak", "Duarte", "Haas"]
TOPICS = ["pricing narrative", "support model", "RFP debrief", "roadmap (FY26)",
          "air-gapped focus", "storage cost calculator", "hiring plan", "SLO gates",
          "crawl-walk-run plan", "escalation matrix", "org landscape", "renewal"]
FOLDERS = ["", "Inbox", "Projects", "Projects/Alpha", "Archive", "Areas/Work"]
STATUS = [" ", "x", "/", "-", " ", " "]
PRIO = ["", " ⏫", " 🔼", " 🔽", "", ""]


def person_name(rng):
    return "%s %s" % (rng.choice(FIRST), rng.choice(LAST))


def rand_date(rng, year=None):
    return "%04d-%02d-%02d" % (year or rng.choice([2024, 2025]), rng.randint(1, 12),
                               rng.randint(1, 28))


class Names:
    """What a generated note may refer to: people (with aliases), meeting
    titles and plain note names, taken from the vault as it is now."""

    def __init__(self, people=(), meetings=(), notes=(), aliases=None):
        self.people = list(people)
        self.meetings = list(meetings)
        self.notes = list(notes)
        self.aliases = dict(aliases or {})


def ref(rng, names):
    """A reference to something that may or may not exist, in one of the
    forms Obsidian understands, or a plain-text mention."""
    pool = names.people + names.notes + names.meetings
    target = rng.choice(pool) if pool and rng.random() < 0.85 else person_name(rng)
    form = rng.randrange(9)
    if form == 0:
        return "[[%s]]" % target
    if form == 1:
        return "[[%s|%s]]" % (target, rng.choice(FIRST))
    if form == 2:
        return "![[%s]]" % target
    if form == 3:
        return "[%s](%s.md)" % (rng.choice(TOPICS), target.replace(" ", "%20"))
    if form == 4:
        return "[[%s#Key Facts]]" % target
    if form == 5 and names.aliases:
        return rng.choice(sorted({a for v in names.aliases.values() for a in v}))
    if form == 6 and names.aliases:
        return "[[%s]]" % rng.choice(sorted({a for v in names.aliases.values() for a in v}))
    return target  # plain text: an unlinked mention


def task_line(rng, names):
    t = "- [%s] %s to %s%s" % (rng.choice(STATUS), rng.choice(names.people or [person_name(rng)]),
                              rng.choice(TOPICS), rng.choice(PRIO))
    if rng.random() < 0.5:
        t += " 📅 " + rand_date(rng)
    if rng.random() < 0.2:
        t += " ✅ " + rand_date(rng)
    if rng.random() < 0.3:
        t += " " + ref(rng, names)
    if rng.random() < 0.2:
        t += " #tag%d" % rng.randrange(5)
    return t


def person_text(rng, name, names, aliases=()):
    fm = ["---", "type: person", "name: %s" % name, "email: ''",
          "company: %s" % rng.choice(["''", "Northwind", "'Acme, Inc.'"]),
          "last_contact: '%s'" % rand_date(rng)]
    if aliases:
        fm.append("aliases:")
        fm += ["- %s" % a for a in aliases]
    fm += ["tags:", "- type/person", "---", ""]
    body = ["# %s" % name, "", "## Key Facts", ""]
    for _ in range(rng.randrange(3)):
        body += ["- %s %s %s." % (name, rng.choice(["met", "reviewed", "shared"]),
                                   ref(rng, names)), ""]
    body += ["## Recent Context", ""]
    for _ in range(rng.randrange(4)):
        if names.meetings and rng.random() < 0.7:
            body += ["- %s: Mentioned in: %s" % (rand_date(rng), rng.choice(names.meetings)), ""]
        else:
            body += ["- %s: Mentioned in: %s" % (rand_date(rng), "Old meeting %d" % rng.randrange(9)),
                     ""]
    body += ["## Tasks", "", "```tasks", "path includes %s" % name, "not done", "```", ""]
    if rng.random() < 0.3:
        body += ["- [ ] follow up with %s" % ref(rng, names), ""]
    return "\n".join(fm + body)


def meeting_text(rng, title, date, names):
    att = rng.sample(names.people, min(len(names.people), rng.randrange(4))) if names.people else []
    fm = ["---", "type: meeting", 'title: "%s"' % title.replace('"', "'"), "date: '%s'" % date]
    if att:
        fm.append("attendees:")
        fm += ['- "[[%s]]"' % a for a in att]
    fm += ["tags:", "- type/meeting", "---", ""]
    body = ["# %s" % title, "", "## Summary"]
    for _ in range(rng.randrange(1, 4)):
        body.append("%s and %s discussed the %s." % (ref(rng, names), ref(rng, names),
                                                     rng.choice(TOPICS)))
    body += ["", "## Action Items"]
    for _ in range(rng.randrange(4)):
        body.append(task_line(rng, names))
    return "\n".join(fm + body) + "\n"


def other_text(rng, names):
    lines = ["# %s" % rng.choice(TOPICS), ""]
    if rng.random() < 0.3:
        lines = ["---", "tags: [project, t%d]" % rng.randrange(3), "---", ""] + lines
    for _ in range(rng.randrange(1, 6)):
        k = rng.randrange(5)
        if k == 0:
            lines.append(task_line(rng, names))
        elif k == 1:
            lines.append("> quoting %s" % ref(rng, names))
        elif k == 2:
            lines += ["```", "[[not a link %s]]" % rng.choice(FIRST), "```"]
        else:
            lines.append("Talked to %s about %s, see %s." % (ref(rng, names), rng.choice(TOPICS),
                                                           ref(rng, names)))
    return "\n".join(lines) + "\n"


# -- vault walking --------------------------------------------------------

def list_notes(vault):
    """Every .md file quipud indexes: vault-relative, sorted; dot-folders and
    dot-files skipped."""
    out = []
    for root, dirs, files in os.walk(vault):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in files:
            if f.endswith(".md") and not f.startswith("."):
                out.append(os.path.relpath(os.path.join(root, f), vault).replace(os.sep, "/"))
    return sorted(out)


def generate_vault(vault, rng, people=30, meetings=150, others=40, years=(2024, 2025)):
    """Writes a vault of person, meeting and other notes. Returns Names."""
    names = Names()
    used = set()
    while len(names.people) < people:
        n = person_name(rng)
        if n in used:
            n = "%s %s" % (n, len(names.people))
        used.add(n)
        names.people.append(n)
        if rng.random() < 0.3:
            names.aliases[n] = [n.split()[0] + "ie"]
    for i in range(meetings):
        names.meetings.append("%s sync %d on %s" % (rng.choice(FIRST), i, rng.choice(TOPICS)))
    for i in range(others):
        names.notes.append("Note %d %s" % (i, rng.choice(TOPICS).split()[0]))
    for n in names.people:
        write(vault, "People/%s.md" % n, person_text(rng, n, names, names.aliases.get(n, ())))
    for t in names.meetings:
        y = rng.choice(years)
        d = rand_date(rng, y)
        write(vault, "Meetings/%d/%s %s.md" % (y, d, safe(t)), meeting_text(rng, t, d, names))
    for t in names.notes:
        write(vault, os.path.join(rng.choice(FOLDERS), t + ".md"), other_text(rng, names))
    return names


def safe(s):
    for ch in "/\\:#^[]|":
        s = s.replace(ch, "-")
    return s


def write(vault, rel, text):
    p = os.path.join(vault, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)


# -- answers --------------------------------------------------------------

STATUS_KEYS = ("files", "notes", "tasks", "links", "unresolved_links")


def strip_generation(v):
    if isinstance(v, dict):
        return {k: strip_generation(x) for k, x in v.items() if k != "generation"}
    if isinstance(v, list):
        return [strip_generation(x) for x in v]
    return v


def pipelined(c, calls, window=64):
    """Sends `calls` [(method, params)] with up to `window` in flight; returns
    [("result", r) | ("error", {code, kind})] in order."""
    out = [None] * len(calls)
    inflight = []
    i = 0
    while i < len(calls) or inflight:
        while i < len(calls) and len(inflight) < window:
            inflight.append((i, c.send(*calls[i])))
            i += 1
        k, rid = inflight.pop(0)
        msg = c.response(rid, timeout=60)
        if "error" in msg:
            e = msg["error"]
            out[k] = ("error", {"code": e.get("code"), "kind": (e.get("data") or {}).get("kind"),
                                "message": e.get("message")})
        else:
            out[k] = ("result", strip_generation(msg["result"]))
    return out


def snapshot(c, vault, notes=None, today="2025-06-01"):
    """Every answer about `notes` (default: every note of the vault): note,
    backlinks with unlinked, and for every person mentions and tasks.blocks;
    plus status counts. A dict {key: answer} that two daemons on the same
    files must agree on exactly."""
    if notes is None:
        notes = list_notes(vault)
    snap = {}
    st = c.request("status", {})
    snap["status"] = {k: st.get(k) for k in STATUS_KEYS}
    calls = []
    for n in notes:
        calls.append(("note", {"note": n}))
        calls.append(("backlinks", {"note": n, "unlinked": True}))
    res = pipelined(c, calls)
    people = []
    for j, n in enumerate(notes):
        snap["note " + n] = res[2 * j]
        snap["backlinks " + n] = res[2 * j + 1]
        r = res[2 * j]
        if r[0] == "result" and r[1].get("kind") == "person":
            people.append(n)
    calls = []
    for n in people:
        calls.append(("mentions", {"note": n}))
        calls.append(("tasks.blocks", {"note": n, "today": today}))
    res = pipelined(c, calls)
    for j, n in enumerate(people):
        snap["mentions " + n] = res[2 * j]
        snap["tasks.blocks " + n] = res[2 * j + 1]
    return snap


def diff_snapshots(a, b, name_a="live", name_b="cold", limit=20):
    """Returns a list of human-readable unified diffs, one per differing key."""
    out = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) == b.get(k):
            continue
        ta = json.dumps(a.get(k), indent=1, sort_keys=True, ensure_ascii=False).splitlines()
        tb = json.dumps(b.get(k), indent=1, sort_keys=True, ensure_ascii=False).splitlines()
        d = "\n".join(difflib.unified_diff(ta, tb, name_a + ": " + k, name_b + ": " + k,
                                           lineterm="", n=2))
        out.append(d)
    if len(out) > limit:
        print("(%d more differing answers not shown)" % (len(out) - limit))
    for d in out[:limit]:
        print(d)
    return out


def answer_stats(snap):
    """How much a snapshot says: linked and unlinked sources, people,
    mentioned_in entries, errors."""
    st = {"linked": 0, "unlinked": 0, "people": 0, "mentioned_in": 0, "errors": 0}
    for k, v in snap.items():
        if k == "status":
            continue
        if v[0] == "error":
            st["errors"] += 1
            continue
        if k.startswith("backlinks "):
            st["linked"] += len(v[1]["linked"])
            st["unlinked"] += len(v[1].get("unlinked", []))
        elif k.startswith("mentions "):
            st["people"] += 1
            st["mentioned_in"] += len(v[1]["mentioned_in"])
    return st


def cold_snapshot(vault, notes=None, tmp_parent=None, args=()):
    """Copies `vault` and answers from a fresh quipud with a new empty index."""
    tmp = os.path.join(tmp_parent or "/tmp", "cold-%d-%d" % (os.getpid(), int(time.time() * 1e6)))
    shutil.copytree(vault, tmp, symlinks=True)
    try:
        with Daemon(vault=tmp, args=list(args), timeout=120) as d:
            c = d.client(timeout=60)
            return snapshot(c, tmp, notes)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def live_vs_cold(c, vault, notes=None, tmp_parent=None, label=""):
    """Compares a settled live daemon with a cold index of a copy. status has
    no "busy" flag, so a quiet generation can still hide a slow parse (a big
    file under ASan): a difference is looked at again after a longer quiet
    period, and only one that persists counts. Returns the diffs."""
    live = snapshot(c, vault, notes)
    cold = cold_snapshot(vault, notes, tmp_parent=tmp_parent)
    if live != cold:
        settle(c, quiet=2.5)
        live2 = snapshot(c, vault, notes)
        if live2 == cold:
            print("%s: the live answers caught up after a longer wait (transient)" % label)
        live = live2
    return diff_snapshots(live, cold), cold


def settle(c, quiet=0.4, timeout=60.0):
    """Waits until status.generation has not moved for `quiet` seconds, nothing
    is pending and the daemon is ready; returns the last status. (A batch that
    takes longer than `quiet` to commit leaves the generation still while
    changes wait.)"""
    deadline = time.monotonic() + timeout
    last = c.request("status", {})
    since = time.monotonic()
    while True:
        time.sleep(0.05)
        st = c.request("status", {})
        if (st["generation"] != last["generation"] or st.get("state") != "ready"
                or st.get("pending", 0) != 0):
            last = st
            since = time.monotonic()
        elif time.monotonic() - since >= quiet:
            return st
        if time.monotonic() > deadline:
            raise TimeoutError("quipud did not settle: %r" % st)


def rss_kib(pid):
    """VmRSS of a process in KiB (0 when it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
