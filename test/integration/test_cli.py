"""Integration tests of the quipu CLI against a real quipud on a tiny vault.

Every subcommand is run as a process; --json output is parsed and compared with
values worked out by hand from the vault below; human output is checked for
its headings, `path:line` places and alignment; usage errors exit 2; a missing
daemon exits 1 with a message that says how to start one.
"""

import glob
import json
import os
import shlex
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_harness import Daemon, quipu_path, quipud_path, run_tests  # noqa: E402

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
path includes Meetings
```
"""
# Line numbers the expectations rely on.
ANN_STALE_LINE = 13
ANN_BLOCK_LINE = 17

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

IDEAS = """# Ideas

Talk to [[Ann Lee|Ann]] about [[Missing Page]].
"""

P_ANN = "People/Ann Lee.md"
P_ROAD = "Meetings/2025-03-04 Roadmap sync.md"
P_HIRE = "Meetings/2025-02-10 Hiring.md"
P_IDEAS = "Notes/Ideas.md"

FILES = {
    ".obsidian/app.json": "{}\n",
    P_ANN: ANN,
    P_ROAD: ROADMAP,
    P_HIRE: HIRING,
    P_IDEAS: IDEAS,
}

QUIPU = None
_daemon = None


def daemon():
    """One daemon shared by the read-only tests (started on first use)."""
    global _daemon
    if _daemon is None:
        _daemon = Daemon(files=FILES)
    return _daemon


def run(args, sock=None, stdin=None, cwd=None, env=None, timeout=30):
    """Runs quipu; returns (exit code, stdout, stderr). By default it talks to
    the shared daemon through $QUIPU_SOCKET."""
    e = dict(os.environ)
    e.pop("QUIPU_SOCKET", None)
    e["NO_COLOR"] = "1"
    if sock is None and env is None:
        sock = daemon().socket
    if sock:
        e["QUIPU_SOCKET"] = sock
    e.update(env or {})
    p = subprocess.run([QUIPU] + args, input=stdin, capture_output=True, text=True,
                       cwd=cwd, env=e, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def run_json(args, **kw):
    rc, out, err = run(["--json"] + args, **kw)
    assert rc == 0, "quipu %s: exit %d\n%s" % (args, rc, err)
    return json.loads(out)


def eq(got, want, what=""):
    assert got == want, "%s: got %r, want %r" % (what, got, want)


def task_summary(t):
    return (t["path"], t["line"], t["status"]["symbol"], t["status"]["type"], t["description"])


# ---- status -------------------------------------------------------------------

def test_status_json():
    st = run_json(["status"])
    eq(st["state"], "ready", "state")
    eq(st["protocol"], 1, "protocol")
    eq(os.path.realpath(st["vault"]), daemon().vault, "vault")
    eq(st["notes"], {"person": 1, "meeting": 2, "other": 1}, "notes")
    eq(st["tasks"], 3, "tasks")


def test_status_human():
    rc, out, err = run(["status"])
    eq(rc, 0, "exit")
    lines = out.splitlines()
    assert lines[0].split() == ["state", "ready"], lines
    assert any(l.split()[:2] == ["vault", daemon().vault] for l in lines), out
    assert "1 person, 2 meeting, 1 other" in out, out
    assert "\x1b[" not in out, "colour on a pipe"


def test_status_wait_on_scanning_daemon():
    # Enough notes that the first scan is still running when quipu asks.
    files = dict(FILES)
    for i in range(3000):
        files["Bulk/n%04d.md" % i] = "# N %d\n\n[[Ann Lee]] and [[Bulk/n%04d]]\n- [ ] t%d\n" % (
            i, (i + 1) % 3000, i)
    d = Daemon(files=files, wait_ready=False)
    try:
        rc, out, err = run(["--json", "status", "--wait"], sock=d.socket, timeout=120)
        eq(rc, 0, "exit (stderr %s)" % err)
        st = json.loads(out)
        eq(st["state"], "ready", "state after --wait")
        eq(st["notes"]["other"], 3001, "other notes once ready")
        eq(st["tasks"], 3003, "tasks once ready")
        # Not a terminal: progress, if any was shown, is plain lines on stderr.
        for line in err.splitlines():
            assert line.startswith("quipu: scanning "), line
    finally:
        d.cleanup()


# ---- backlinks -------------------------------------------------------------------

def test_backlinks_json():
    r = run_json(["backlinks", "Ann Lee"])
    eq(r["path"], P_ANN, "path")
    eq([s["path"] for s in r["linked"]], [P_ROAD, P_IDEAS], "linked sources")
    road = r["linked"][0]
    eq(road["kind"], "meeting", "kind")
    eq(road["title"], "Roadmap sync", "title")
    eq(road["date"], "2025-03-04", "date")
    eq([(o["line"], o["column"]) for o in road["occurrences"]], [(9, 1), (11, 24)], "occurrences")
    eq(road["occurrences"][0]["context"], "[[Ann Lee]] presented the roadmap.", "context")
    ideas = r["linked"][1]
    eq([(o["line"], o["column"]) for o in ideas["occurrences"]], [(3, 9)], "ideas occurrence")
    assert "unlinked" not in r, "unlinked present without --unlinked"


def test_backlinks_unlinked_json():
    r = run_json(["backlinks", "Ann Lee", "--unlinked"])
    eq([s["path"] for s in r["unlinked"]], [P_HIRE], "unlinked sources")
    occ = r["unlinked"][0]["occurrences"]
    eq([(o["line"], o["column"], o["context"]) for o in occ],
       [(9, 1, "Ann Lee will interview candidates.")], "unlinked occurrences")


def test_backlinks_by_path_and_case():
    # A path and link text in another case name the same note.
    a = run_json(["backlinks", P_ANN])
    b = run_json(["backlinks", "ann lee"])
    eq(a, b, "path vs link text")


def test_backlinks_human():
    rc, out, err = run(["backlinks", "Ann Lee", "--unlinked"])
    eq(rc, 0, "exit")
    lines = out.splitlines()
    eq(lines[0], "Linked mentions (2)", "heading")
    rows = lines[1:4]
    eq([r.split("  ")[0].strip() for r in rows],
       [P_ROAD + ":9:", P_ROAD + ":11:", P_IDEAS + ":3:"], "places")
    assert rows[0].endswith("[[Ann Lee]] presented the roadmap."), rows[0]
    # Contexts line up in one column.
    starts = {len(r) - len(r.split(":", 1)[1].split(" ", 1)[1].lstrip()) for r in rows}
    eq(len(starts), 1, "aligned context column: %r" % rows)
    i = lines.index("Unlinked mentions (1)")
    eq(lines[i - 1], "", "blank line between sections")
    assert lines[i + 1].startswith(P_HIRE + ":9:  "), lines[i + 1]
    assert lines[i + 1].endswith("Ann Lee will interview candidates."), lines[i + 1]


def test_color_always():
    rc, out, err = run(["--color", "always", "backlinks", "Ann Lee"])
    eq(rc, 0, "exit")
    assert "\x1b[35m" + P_ROAD + "\x1b[0m:\x1b[32m9\x1b[0m" in out, repr(out)
    rc, out2, err = run(["backlinks", "Ann Lee", "--color=never"])
    assert "\x1b[" not in out2


def test_backlinks_unknown_note():
    rc, out, err = run(["backlinks", "Nobody Here"])
    eq(rc, 1, "exit for a missing note")
    assert err.startswith("quipu: "), err
    eq(out, "", "stdout")


# ---- mentions -----------------------------------------------------------------------

def test_mentions_json():
    r = run_json(["mentions", "Ann Lee"])
    eq(r["path"], P_ANN, "path")
    eq([(s["path"], s["date"]) for s in r["mentioned_in"]],
       [(P_ROAD, "2025-03-04"), (P_HIRE, "2025-02-10")], "mentioned_in, newest first")
    eq(r["listed"], [{"line": 12, "title": "Roadmap sync", "path": P_ROAD},
                     {"line": ANN_STALE_LINE, "title": "Old offsite", "path": None}], "listed")
    eq(r["missing"], [P_HIRE], "missing")
    eq(r["stale"], [{"line": ANN_STALE_LINE, "title": "Old offsite"}], "stale")


def test_mentions_human():
    rc, out, err = run(["mentions", "Ann Lee"])
    eq(rc, 0, "exit")
    lines = out.splitlines()
    eq(lines[0], "Mentioned in (2)", "heading")
    assert lines[1].startswith("2025-03-04  " + P_ROAD + ":9"), lines[1]
    hire = [l for l in lines if P_HIRE + ":9" in l]
    assert hire and hire[0].startswith("2025-02-10  "), lines
    assert "Missing (1)" in lines and P_HIRE in lines, out
    assert "Stale (1)" in lines, out
    stale = [l for l in lines if l.startswith("%s:%d" % (P_ANN, ANN_STALE_LINE))]
    assert stale and stale[0].endswith("Old offsite"), out


# ---- tasks ----------------------------------------------------------------------------

def test_tasks_json():
    r = run_json(["tasks", "not done\npath includes Meetings\nsort by due", "--today", "2025-03-01"])
    eq(r["total"], 2, "total")
    eq(len(r["groups"]), 1, "one group when ungrouped")
    eq(r["groups"][0]["names"], [], "ungrouped names")
    ts = r["groups"][0]["tasks"]
    eq([task_summary(t) for t in ts],
       [(P_HIRE, 11, " ", "TODO", "Write the job post"),
        (P_ROAD, 11, " ", "TODO", "Send the deck to [[Ann Lee]]")], "tasks")
    eq((ts[0]["due"], ts[0]["priority"]), ("2025-02-20", "none"), "hiring fields")
    eq((ts[1]["due"], ts[1]["priority"]), ("2025-03-10", "high"), "roadmap fields")


def test_tasks_lines_as_arguments_and_today():
    # Each argument is a line; --today moves "tomorrow".
    r = run_json(["tasks", "not done", "due before tomorrow", "--today", "2025-02-25"])
    eq([task_summary(t)[:2] for g in r["groups"] for t in g["tasks"]], [(P_HIRE, 11)], "02-25")
    r = run_json(["tasks", "not done", "due before tomorrow", "sort by due", "--today", "2025-03-20"])
    eq([task_summary(t)[:2] for g in r["groups"] for t in g["tasks"]],
       [(P_HIRE, 11), (P_ROAD, 11)], "03-20")


def test_tasks_done_from_stdin():
    rc, out, err = run(["--json", "tasks", "-"], stdin="done\n")
    eq(rc, 0, "exit: " + err)
    r = json.loads(out)
    eq([task_summary(t) for g in r["groups"] for t in g["tasks"]],
       [(P_ROAD, 12, "x", "DONE", "Book the room")], "done tasks")
    eq(r["groups"][0]["tasks"][0]["done"], "2025-03-03", "done date")


def test_tasks_human():
    rc, out, err = run(["tasks", "not done\nsort by due", "--today", "2025-03-01"])
    eq(rc, 0, "exit")
    lines = out.splitlines()
    assert lines[0].startswith(P_HIRE + ":11:  "), lines
    assert "- [ ] Write the job post" in lines[0], lines[0]
    assert "2025-02-20" in lines[0], lines[0]
    assert lines[1].startswith(P_ROAD + ":11:  "), lines
    eq(lines[0].index("- [ ]"), lines[1].index("- [ ]"), "aligned checkboxes")
    eq(lines[-1], "2 tasks", "footer")


def test_tasks_query_error():
    rc, out, err = run(["tasks", "not done\nthis is not a filter"])
    eq(rc, 1, "exit")
    assert err.startswith("quipu: query line 2: "), err


# ---- blocks -----------------------------------------------------------------------------

def test_blocks_json():
    r = run_json(["blocks", "Ann Lee", "--today", "2025-03-01"])
    eq(len(r), 1, "one block")
    eq(r[0]["line"], ANN_BLOCK_LINE, "fence line")
    eq(r[0]["query"].strip(), "not done\npath includes Meetings", "query")
    got = sorted(task_summary(t)[:2] for g in r[0]["result"]["groups"] for t in g["tasks"])
    eq(got, [(P_HIRE, 11), (P_ROAD, 11)], "block result")


def test_blocks_human():
    rc, out, err = run(["blocks", "Ann Lee", "--today", "2025-03-01"])
    eq(rc, 0, "exit")
    lines = out.splitlines()
    eq(lines[0], "%s:%d:  ```tasks" % (P_ANN, ANN_BLOCK_LINE), "block heading")
    eq(lines[1].strip(), "not done", "query shown")
    assert any(l.startswith("  " + P_HIRE + ":11") for l in lines), out
    eq(lines[-1], "  2 tasks", "footer")


# ---- note, resolve ----------------------------------------------------------------------

def test_note_json():
    r = run_json(["note", P_ROAD])
    eq(r["path"], P_ROAD, "path")
    eq(r["kind"], "meeting", "kind")
    eq(r["title"], "Roadmap sync", "title")
    eq(r["date"], "2025-03-04", "date")
    eq(len(r["headings"]), 1, "headings")
    eq(sorted(t["line"] for t in r["tasks"]), [11, 12], "task lines")
    r = run_json(["note", "Ann Lee"])
    eq((r["path"], r["kind"], r["title"]), (P_ANN, "person", "Ann Lee"), "person")
    eq(r["aliases"], ["Annie"], "aliases")
    eq(len(r["headings"]), 3, "person headings")


def test_note_human():
    rc, out, err = run(["note", P_ROAD])
    eq(rc, 0, "exit")
    lines = out.splitlines()
    eq(lines[0].split(None, 1), ["path", P_ROAD], "path row")
    assert ["kind", "meeting"] in [l.split(None, 1) for l in lines], out
    assert ["date", "2025-03-04"] in [l.split(None, 1) for l in lines], out
    assert "Tasks (2)" in lines, out
    assert any(l.startswith(P_ROAD + ":12") and "- [x] Book the room" in l for l in lines), out


def test_note_shows_its_problems():
    # Ideas links [[Missing Page]] at line 3, column 31: the text form lists
    # it under Problems; a note with none has no such section, and --json
    # keeps the note method's result as it is.
    rc, out, err = run(["note", P_IDEAS])
    eq(rc, 0, "exit")
    lines = out.splitlines()
    assert "Problems (1)" in lines, out
    row = lines[lines.index("Problems (1)") + 1]
    assert row.startswith(P_IDEAS + ":3:31: ") and row.endswith(" [unresolved_link]"), row
    assert "Missing Page" in row, row
    rc, out, err = run(["note", P_HIRE])
    assert not any(l.startswith("Problems") for l in out.splitlines()), out
    assert "own_problems" not in run_json(["note", P_IDEAS]), "json unchanged"


def test_note_file_path_from_subfolder():
    # A NOTE that is a file on disk becomes vault-relative, wherever quipu runs.
    d = daemon()
    r = run_json(["note", "Ann Lee.md"], cwd=os.path.join(d.vault, "People"))
    eq(r["path"], P_ANN, "path from a subfolder")


def test_resolve():
    eq(run_json(["resolve", "ann lee"]), {"path": P_ANN}, "case-insensitive")
    eq(run_json(["resolve", "Ann Lee", "--from", P_IDEAS]), {"path": P_ANN}, "with --from")
    rc, out, err = run(["resolve", "Ann Lee"])
    eq((rc, out), (0, P_ANN + "\n"), "human")
    rc, out, err = run(["resolve", "Missing Page"])
    eq(rc, 1, "unresolved exits 1")
    assert err.startswith("quipu: "), err
    rc, out, err = run(["--json", "resolve", "Missing Page"])
    eq(rc, 1, "unresolved --json exits 1")
    eq(json.loads(out), {"path": None}, "unresolved result")


# ---- watch ----------------------------------------------------------------------------------

def read_line(proc, timeout=15):
    """One line of a running quipu's stdout, or fail after timeout."""
    deadline = time.monotonic() + timeout
    buf = b""
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        assert left > 0, "no output from quipu watch within %ss (got %r)" % (timeout, buf)
        r, _, _ = select.select([proc.stdout], [], [], left)
        if r:
            ch = os.read(proc.stdout.fileno(), 1)
            assert ch, "quipu watch exited: %r" % proc.stderr.read()
            buf += ch
    return buf.decode()


def test_watch_backlinks_json():
    d = Daemon(files=FILES)
    env = dict(os.environ, QUIPU_SOCKET=d.socket)
    p = subprocess.Popen([QUIPU, "--json", "watch", "backlinks", "note=Ann Lee"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        first = json.loads(read_line(p))
        eq([s["path"] for s in first["linked"]], [P_ROAD, P_IDEAS], "initial result")
        d.write("Notes/New.md", "# New\n\nMet [[Ann Lee]] today.\n")
        # Updates may come per batch; read until the new note shows up.
        while True:
            upd = json.loads(read_line(p))
            if "Notes/New.md" in [s["path"] for s in upd["linked"]]:
                break
        eq([s["path"] for s in upd["linked"]], [P_ROAD, P_IDEAS, "Notes/New.md"], "after save")
        d.remove(P_IDEAS)
        while True:
            upd = json.loads(read_line(p))
            if P_IDEAS not in [s["path"] for s in upd["linked"]]:
                break
        eq([s["path"] for s in upd["linked"]], [P_ROAD, "Notes/New.md"], "after delete")
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(10)
        d.cleanup()


def test_watch_human_and_json_params():
    d = Daemon(files=FILES)
    env = dict(os.environ, QUIPU_SOCKET=d.socket, NO_COLOR="1")
    p = subprocess.Popen([QUIPU, "watch", "tasks", '{"query": "done", "today": "2025-03-05"}'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        eq(read_line(p), "\n", "separator")
        assert read_line(p).startswith("── tasks.query"), "header"
        assert read_line(p).startswith(P_ROAD + ":12:  - [x] Book the room")
        eq(read_line(p), "1 task\n", "footer")
        d.write(P_HIRE, HIRING.replace("- [ ] Write", "- [x] Write"))
        while True:
            line = read_line(p)
            if line.startswith("── tasks.query · generation "):
                break
        rows = [read_line(p), read_line(p), read_line(p)]
        assert any(r.startswith(P_HIRE + ":11") for r in rows), rows
        eq(rows[-1], "2 tasks\n", "footer after update")
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(10)
        d.cleanup()


def test_watch_bad_params_is_usage():
    # Checked before connecting: no daemon needed to be told.
    rc, out, err = run(["watch", "backlinks", "{not json"], sock="/nonexistent/q.sock")
    eq(rc, 2, "exit")
    rc, out, err = run(["watch", "backlinks", "novalue"], sock="/nonexistent/q.sock")
    eq(rc, 2, "exit")


def test_watch_server_error():
    rc, out, err = run(["watch", "no.such.method"])
    eq(rc, 1, "exit")
    assert err.startswith("quipu: "), err


# ---- finding the daemon ---------------------------------------------------------------------

def fresh_vault(tmp):
    vault = os.path.join(tmp, "My Vault")
    for rel, text in FILES.items():
        p = os.path.join(vault, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
    return os.path.realpath(vault)


def test_default_socket_found_from_inside_vault():
    # quipud and quipu agree on the socket without being told: both derive it
    # from the vault's real path under $XDG_RUNTIME_DIR.
    tmp = tempfile.mkdtemp(prefix="qp-cli-")
    run_dir = os.path.join(tmp, "run")
    os.makedirs(run_dir, mode=0o700)
    vault = fresh_vault(tmp)
    env = dict(os.environ, XDG_RUNTIME_DIR=run_dir, XDG_CACHE_HOME=os.path.join(tmp, "cache"))
    env.pop("QUIPU_SOCKET", None)
    d = subprocess.Popen([quipud_path(), vault], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 20
        socks = []
        while not socks and time.monotonic() < deadline:
            assert d.poll() is None, d.stderr.read().decode()
            socks = glob.glob(os.path.join(run_dir, "quipu", "*.sock"))
            time.sleep(0.05)
        assert len(socks) == 1, socks
        name = os.path.basename(socks[0])
        assert name.startswith("My Vault-") and len(name) == len("My Vault-12345678.sock"), name
        env["NO_COLOR"] = "1"
        for cwd, extra in ((os.path.join(vault, "People"), []), (tmp, ["--vault", vault])):
            for _ in range(200):
                p = subprocess.run([QUIPU, "--json"] + extra + ["status"], cwd=cwd, env=env,
                                   capture_output=True, text=True, timeout=30)
                if p.returncode == 0:
                    break
                time.sleep(0.05)
            eq(p.returncode, 0, "exit from %s: %s" % (cwd, p.stderr))
            eq(os.path.realpath(json.loads(p.stdout)["vault"]), vault, "vault")
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(20)
        shutil.rmtree(tmp, ignore_errors=True)


def test_no_daemon_message():
    tmp = tempfile.mkdtemp(prefix="qp-cli-")
    try:
        vault = fresh_vault(tmp)
        env = {"XDG_RUNTIME_DIR": os.path.join(tmp, "run")}
        rc, out, err = run(["status"], env=env, cwd=os.path.join(vault, "Notes"))
        eq(rc, 1, "exit")
        assert err.startswith("quipu: no quipud is running for %s (socket %s/run/quipu/"
                              % (vault, tmp)), err
        # quipud from $PATH, else the one beside this quipu (an uninstalled build).
        quipud = "quipud" if shutil.which("quipud") else os.path.join(
            os.path.dirname(QUIPU), "quipud")
        assert err.rstrip().endswith("start it with: %s %s" % (quipud, vault)), err
        eq(out, "", "stdout")

        # An explicit socket nobody listens on, and a stale socket file.
        rc, out, err = run(["backlinks", "X"], sock=os.path.join(tmp, "none.sock"))
        eq(rc, 1, "exit")
        assert "no quipud is running" in err, err
        stale = os.path.join(tmp, "stale.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(stale)
        s.close()
        rc, out, err = run(["--socket", stale, "status"], env={})
        eq(rc, 1, "exit")
        assert "no quipud is running on socket %s" % stale in err, err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_no_vault_here():
    tmp = tempfile.mkdtemp(prefix="qp-cli-")
    try:
        rc, out, err = run(["status"], env={"XDG_RUNTIME_DIR": tmp}, cwd=tmp)
        eq(rc, 1, "exit")
        assert err.startswith("quipu: no vault here"), err
        rc, out, err = run(["--vault", os.path.join(tmp, "nope"), "status"], env={})
        eq(rc, 1, "exit")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- usage ------------------------------------------------------------------------------------

def test_usage_errors_exit_2():
    nowhere = "/nonexistent/quipu.sock"
    for args in ([], ["frobnicate"], ["backlinks"], ["backlinks", "a", "b"], ["status", "--bogus"],
                 ["status", "extra"], ["tasks"], ["tasks", "done", "--today", "2025-3-1"],
                 ["tasks", "done", "--today"], ["--socket"], ["--bogus", "status"],
                 ["resolve"], ["watch"], ["note"], ["mentions", "a", "b"], ["blocks"],
                 ["--color", "sometimes", "status"]):
        rc, out, err = run(args, sock=nowhere)
        eq(rc, 2, "quipu %s (stderr %r)" % (args, err))
        assert err.startswith("quipu: ") or err.startswith("usage: "), (args, err)


def test_help_and_version():
    rc, out, err = run(["help"], sock="/nonexistent")
    eq(rc, 0, "help")
    assert out.startswith("usage: quipu"), out
    for cmd in ("status", "backlinks", "mentions", "tasks", "blocks", "note", "resolve", "watch",
                "eval-tasks"):
        assert "\n  " + cmd in out, cmd
    rc, out2, err = run(["--help"], sock="/nonexistent")
    eq((rc, out2), (0, out), "--help")
    rc, out, err = run(["backlinks", "--help"], sock="/nonexistent")
    eq(rc, 0, "subcommand --help")
    rc, out, err = run(["--version"], sock="/nonexistent")
    eq(rc, 0, "--version")
    assert out.startswith("quipu 0."), out


def test_global_options_after_command():
    # --json and --socket work after the subcommand too.
    r = subprocess.run([QUIPU, "resolve", "Ann Lee", "--json", "--socket", daemon().socket],
                       capture_output=True, text=True, env=dict(os.environ, QUIPU_SOCKET=""))
    eq(r.returncode, 0, r.stderr)
    eq(json.loads(r.stdout), {"path": P_ANN}, "result")


# ---- issue 17: help, errors, output that editors read -------------------------------------

BOARD = """# Board

```tasks
not done
```

Text.

```tasks
not done
frobnicate the tasks
```
"""
P_BOARD = "Notes/Board.md"
BOARD_ERROR_LINE = 11  # the fence is line 9; "frobnicate" is the block's query line 2
P_ONE = "Meetings/2025-03-05 1:1 with Ann.md"
ONE = "# 1:1 with Ann\n\nWith [[Ann Lee]].\n"

_daemon2 = None


def daemon2():
    """A daemon whose vault also has a bad tasks block and a "1:1" name."""
    global _daemon2
    if _daemon2 is None:
        _daemon2 = Daemon(files=dict(FILES, **{P_BOARD: BOARD, P_ONE: ONE}))
    return _daemon2


def test_command_help():
    rc, out, err = run(["help"], sock="/nonexistent")
    cmds = [l.split()[0] for l in out.splitlines() if l.startswith("  ") and l[2] != " "
            and not l.lstrip().startswith("-")]
    assert "backlinks" in cmds and "stop" in cmds, cmds
    for c in cmds:
        rc, out, err = run([c, "--help"], sock="/nonexistent")
        eq(rc, 0, "%s --help" % c)
        assert out.startswith("usage: quipu %s" % c), out
        rc2, out2, err2 = run(["help", c], sock="/nonexistent")
        eq((rc2, out2), (0, out), "help %s" % c)
    rc, out, err = run(["backlinks", "--help"], sock="/nonexistent")
    assert "  --unlinked " in out, out
    assert "Commands" not in out, "the whole help for one command"


def test_did_you_mean():
    for typo, meant in (("backlink", "backlinks"), ("stauts", "status"), ("blcoks", "blocks"),
                        ("mention", "mentions")):
        rc, out, err = run([typo, "X"], sock="/nonexistent")
        eq(rc, 2, typo)
        assert "did you mean %s?" % meant in err, err
    rc, out, err = run(["zzzzzzzz"], sock="/nonexistent")
    assert "did you mean" not in err, err


def test_backlinks_pages():
    """--limit prints a page with the total in the heading and, on stderr,
    the --cursor of the next page, which prints the rest."""
    rc, out, err = run(["backlinks", "Ann Lee", "--limit", "1"])
    eq(rc, 0, "exit")
    lines = out.splitlines()
    eq(lines[0], "Linked mentions (1 of 2)", "heading")
    assert len(lines) == 3 and all(x.startswith(P_ROAD + ":") for x in lines[1:]), out
    assert err.startswith("quipu: more on the next page: --cursor "), err
    cursor = shlex.split(err.split("--cursor ", 1)[1])[0]
    rc, out, err = run(["backlinks", "Ann Lee", "--limit", "1", "--cursor", cursor])
    eq((rc, err), (0, ""), "second page")
    lines = out.splitlines()
    eq(lines[0], "Linked mentions (1 of 2)", "heading")
    assert len(lines) == 2 and lines[1].startswith(P_IDEAS + ":3:"), out
    rc, out, err = run(["backlinks", "Ann Lee", "--limit", "0"])
    eq(rc, 2, "--limit 0 is a usage error")
    r = run_json(["backlinks", "Ann Lee", "--limit", "5", "--all-occurrences"])
    eq(r["linked_total"], 2, "total")
    assert "next_cursor" not in r, r


def test_usage_error_is_short():
    rc, out, err = run(["backlinks"], sock="/nonexistent")
    eq(rc, 2, "exit")
    eq(err.splitlines(), ["quipu: backlinks needs exactly one NOTE",
                          "usage: quipu backlinks NOTE [--unlinked] [--limit N] [--cursor CURSOR]"
                          " [--all-occurrences]"], "message and usage line")
    rc, out, err = run(["tasks", "done", "--today", "March"], sock="/nonexistent")
    eq(len(err.splitlines()), 2, err)


def test_json_errors():
    # Server errors: the daemon's error object, on stdout, exit status kept.
    rc, out, err = run(["--json", "backlinks", "Nobody Here"])
    eq((rc, err), (1, ""), "exit and stderr")
    e = json.loads(out)["error"]
    eq((e["code"], e["data"]["kind"]), (-32001, "not_found"), "not found")
    rc, out, err = run(["tasks", "not done\nthis is not a filter", "--json"])
    eq(rc, 1, "query error exit")
    eq(json.loads(out)["error"]["data"]["line"], 2, "query error line")
    # quipu's own errors: usage (2) and no daemon (1).
    for args, code, kind in ((["--json", "frobnicate"], 2, "usage"),
                             (["--json", "backlinks"], 2, "usage"),
                             (["status", "--json"], 1, "no_daemon")):
        rc, out, err = run(args, sock="/nonexistent/q.sock")
        eq(rc, code, "exit of %s" % args)
        eq(err, "", "stderr of %s" % args)
        eq(json.loads(out)["error"]["data"]["kind"], kind, "kind of %s" % args)


def test_tasks_printed_as_written():
    # The file has the due date before the priority; a rebuilt line would not.
    rc, out, err = run(["tasks", "not done", "path includes Roadmap"])
    eq(rc, 0, err)
    assert out.splitlines()[0].endswith("- [ ] Send the deck to [[Ann Lee]] 📅 2025-03-10 ⏫"), out


def test_blocks_error_at_file_line():
    rc, out, err = run(["blocks", P_BOARD], sock=daemon2().socket)
    eq(rc, 0, err)
    bad = [l for l in out.splitlines() if "error" in l]
    eq(len(bad), 1, out)
    assert bad[0].strip().startswith("%s:%d:  error: " % (P_BOARD, BOARD_ERROR_LINE)), bad
    # A message of several lines keeps its lines, indented under the first.
    assert '\n    Problem line: "frobnicate the tasks"\n' in out, out


def test_vimgrep():
    rc, out, err = run(["--vimgrep", "backlinks", "Ann Lee", "--unlinked"])
    eq(rc, 0, err)
    eq(out.splitlines(), [
        P_ROAD + ":9:1:[[Ann Lee]] presented the roadmap.",
        P_ROAD + ":11:24:- [ ] Send the deck to [[Ann Lee]] 📅 2025-03-10 ⏫",
        P_IDEAS + ":3:9:Talk to [[Ann Lee|Ann]] about [[Missing Page]].",
        P_HIRE + ":9:1:Ann Lee will interview candidates.",
    ], "vimgrep rows")
    rc, out, err = run(["tasks", "done", "--vimgrep"])
    eq(out, P_ROAD + ":12:1:- [x] Book the room ✅ 2025-03-03\n", "a task row")


def quickfix(text):
    """What Neovim's default 'errorformat' makes of `text`: [(file, line)]
    of the valid entries."""
    nvim = shutil.which("nvim")
    tmp = tempfile.mkdtemp(prefix="qp-qf-")
    try:
        src, dst = os.path.join(tmp, "in.txt"), os.path.join(tmp, "out.json")
        with open(src, "w", encoding="utf-8") as f:
            f.write(text)
        subprocess.run([nvim, "--headless", "-u", "NONE", "-i", "NONE", "-q", src, "-c",
                        "call writefile([json_encode(map(filter(getqflist(), 'v:val.valid'),"
                        " '[bufname(v:val.bufnr), v:val.lnum]'))], '%s')" % dst, "-c", "qa!"],
                       capture_output=True, timeout=60, cwd=tmp)
        with open(dst) as f:
            return [tuple(e) for e in json.load(f)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_places_read_by_quickfix():
    if not shutil.which("nvim"):
        print("nvim not found: quickfix parsing not checked")
        return
    sock = daemon2().socket
    want = [(P_ONE, 3), (P_ROAD, 9), (P_ROAD, 11), (P_IDEAS, 3)]
    rc, out, err = run(["--vimgrep", "backlinks", "Ann Lee"], sock=sock)
    eq(sorted(quickfix(out)), sorted(want), "--vimgrep in the quickfix list")
    # The default output too, "1:1" in a name included.
    rc, out, err = run(["backlinks", "Ann Lee"], sock=sock)
    eq(sorted(quickfix(out)), sorted(want), "default output in the quickfix list")


def test_status_wait_for_a_starting_daemon():
    d = Daemon(files=FILES, start=False)
    try:
        e = dict(os.environ, QUIPU_SOCKET=d.socket, NO_COLOR="1")
        p = subprocess.Popen([QUIPU, "--json", "status", "--wait", "--timeout", "60"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
        time.sleep(0.7)
        assert p.poll() is None, "gave up before the daemon started: %s" % p.stderr.read()
        d.start(wait_ready=False)
        out, err = p.communicate(timeout=60)
        eq(p.returncode, 0, "exit: %s" % err)
        eq(json.loads(out)["state"], "ready", "state")
        assert "waiting for quipud" not in out, out
    finally:
        d.cleanup()
    start = time.monotonic()
    rc, out, err = run(["status", "--wait", "--timeout", "1"], sock="/nonexistent/q.sock")
    eq(rc, 1, "exit after the timeout")
    assert time.monotonic() - start < 20, "timeout not kept"
    assert "no quipud is running" in err, err
    rc, out, err = run(["status", "--timeout", "soon"], sock="/nonexistent/q.sock")
    eq(rc, 2, "bad timeout")


def fake_server(script):
    """A one-connection JSON-RPC server on a temporary socket: for each
    request line it reads, sends the next reply of `script` (a list of
    lists of messages, {id} filled in). Returns (socket path, thread)."""
    import threading
    tmp = tempfile.mkdtemp(prefix="qp-fake-")
    path = os.path.join(tmp, "s.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        f = conn.makefile("rwb")
        for replies in script:
            req = json.loads(f.readline())
            for m in replies:
                if "id" in m:
                    m = dict(m, id=req["id"])
                f.write((json.dumps(m) + "\n").encode())
                f.flush()
                time.sleep(0.05)
        time.sleep(0.5)
        conn.close()
        srv.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return path, t


def test_watch_shows_not_found_and_resumes():
    # The protocol's push of a failed re-run: {subscription, generation,
    # error}; the watch shows it and goes on (docs/protocol.md, push updates).
    linked = {"path": P_ANN, "linked": [{"path": P_ROAD, "occurrences": []}]}
    err = {"code": -32001, "message": "note not found: Ann Lee", "data": {"kind": "not_found"}}
    script = [[{"jsonrpc": "2.0", "id": 0, "result": {"subscription": 1, "result": linked}},
               {"jsonrpc": "2.0", "method": "update",
                "params": {"subscription": 1, "generation": 2, "error": err}},
               {"jsonrpc": "2.0", "method": "update",
                "params": {"subscription": 1, "generation": 3, "result": linked}}]]
    path, t = fake_server(script)
    rc, out, _ = run(["--json", "watch", "backlinks", "note=Ann Lee"], sock=path)
    # The last line is the end of the connection (the fake server hangs up).
    lines = [json.loads(l) for l in out.splitlines()]
    eq([sorted(l) for l in lines], [["linked", "path"], ["error"], ["linked", "path"], ["error"]],
       out)
    eq(lines[3]["error"]["data"]["kind"], "connection", "the hang-up")
    eq(lines[1]["error"]["data"]["kind"], "not_found", "the error as pushed")
    path, t = fake_server(script)
    rc, out, _ = run(["watch", "backlinks", "note=Ann Lee"], sock=path)
    assert "note not found: Ann Lee\n(waiting for it to come back)" in out, out
    assert out.count("Linked mentions (1)") == 2, out


def test_served_folder_without_obsidian():
    # quipud serves any folder; quipu finds it from inside one without .obsidian/.
    tmp = tempfile.mkdtemp(prefix="qp-cli-")
    run_dir = os.path.join(tmp, "run")
    os.makedirs(run_dir, mode=0o700)
    vault = os.path.realpath(os.path.join(tmp, "plain"))
    os.makedirs(os.path.join(vault, "sub"))
    with open(os.path.join(vault, "a.md"), "w") as f:
        f.write("# A\n")
    env = dict(os.environ, XDG_RUNTIME_DIR=run_dir, XDG_CACHE_HOME=os.path.join(tmp, "cache"))
    env.pop("QUIPU_SOCKET", None)
    d = subprocess.Popen([quipud_path(), vault], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        for _ in range(400):
            if glob.glob(os.path.join(run_dir, "quipu", "*.sock")):
                break
            time.sleep(0.05)
        env["NO_COLOR"] = "1"
        # Not --wait: it is about finding the daemon, and a scanning->ready
        # change without a commit is not always pushed yet (issue 17, bug 1).
        for _ in range(200):
            p = subprocess.run([QUIPU, "--json", "status"], cwd=os.path.join(vault, "sub"),
                               env=env, capture_output=True, text=True, timeout=60)
            if p.returncode == 0:
                break
            time.sleep(0.05)
        eq(p.returncode, 0, p.stderr)
        eq(os.path.realpath(json.loads(p.stdout)["vault"]), vault, "vault")
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(20)
        shutil.rmtree(tmp, ignore_errors=True)


def test_stop():
    d = Daemon(files=FILES)
    try:
        rc, out, err = run(["stop"], sock=d.socket)
        eq(rc, 0, err)
        assert out.startswith("stopped quipud (pid %d)" % d.proc.pid), out
        eq(d.proc.wait(20), 0, "quipud's exit status")
        assert not os.path.exists(d.socket), "socket left behind"
        rc, out, err = run(["stop"], sock=d.socket)
        eq(rc, 1, "nothing to stop")
    finally:
        d.cleanup()


def test_bash_completion():
    # Commands and options come from quipu's help: new rows complete too.
    comp = os.path.join(os.environ.get("QP_SOURCE_DIR", "."), "contrib", "completions", "quipu.bash")
    script = ('source "$1"; COMP_WORDS=(quipu st); COMP_CWORD=1; _quipu; echo "${COMPREPLY[*]}";'
              ' COMP_WORDS=(quipu status --); COMP_CWORD=2; _quipu; echo "${COMPREPLY[*]}"')
    env = dict(os.environ, PATH=os.path.dirname(QUIPU) + ":" + os.environ.get("PATH", ""))
    p = subprocess.run(["bash", "-c", script, "bash", comp], capture_output=True, text=True,
                       env=env, timeout=30)
    eq(p.returncode, 0, p.stderr)
    words, opts = p.stdout.splitlines()
    eq(sorted(words.split()), ["status", "stop"], "commands")
    for o in ("--wait", "--timeout", "--json", "--vimgrep"):
        assert o in opts.split(), (o, opts)


if __name__ == "__main__":
    QUIPU = os.path.abspath(quipu_path())
    try:
        run_tests(globals())
    finally:
        for dd in (_daemon, _daemon2):
            if dd is not None:
                dd.cleanup()
