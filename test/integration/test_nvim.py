"""The Neovim plugin (contrib/nvim) against a real quipud, in headless Neovim.

test/integration/nvim/drive.lua runs the editor side and reports what it
saw; the expected panel lines, virtual lines and quickfix entries are
written out here by hand from the fixture vault below. Skips (exit 0) only
when nvim is not installed."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from qp_harness import SOURCE_DIR, Daemon, quipud_path, run_tests  # noqa: E402

NVIM = shutil.which("nvim")
PLUGIN = os.path.join(SOURCE_DIR, "contrib", "nvim")
DRIVER = os.path.join(HERE, "nvim", "drive.lua")

MARA = """---
type: person
name: Mara Lindqvist
tags:
- type/person
---

# Mara Lindqvist

## Recent Context

- 2025-11-14: Mentioned in: RFP debrief and federal coordination (air-gapped focus)
- 2025-10-01: Mentioned in: Old offsite
- 2025-10-30: Omar Castell and Mara Lindqvist reviewed the org landscape

## Tasks

```tasks
not done
description includes Mara
```
"""

ROB = """---
type: person
name: Rob Kestrel
---

# Rob Kestrel
"""

ONE_ON_ONE = """---
type: meeting
title: "1:1 with Rob Kestrel"
date: '2025-10-30'
---

# 1:1 with Rob Kestrel

Omar and [[Rob Kestrel]] discussed the support model.
- [ ] [[Mara Lindqvist]] to confirm headcount 📅 2025-11-10
"""

DEBRIEF = """---
type: meeting
title: RFP debrief and federal coordination (air-gapped focus)
date: '2025-11-14'
---

# RFP debrief and federal coordination (air-gapped focus)

Mara Lindqvist wants a monthly review.
"""

PLANNING = """---
type: meeting
title: Planning
date: '2025-11-20'
---

# Planning

Budget review.
"""

FILES = {
    ".obsidian/app.json": "{}\n",
    "People/Mara Lindqvist.md": MARA,
    "People/Rob Kestrel.md": ROB,
    "Meetings/2025-10-30 Rob 1on1.md": ONE_ON_ONE,
    "Meetings/2025-11-14 RFP debrief.md": DEBRIEF,
    "Meetings/2025-11-20 Planning.md": PLANNING,
}

P_1ON1 = "Meetings/2025-10-30 Rob 1on1.md"
P_DEBRIEF = "Meetings/2025-11-14 RFP debrief.md"
P_PLANNING = "Meetings/2025-11-20 Planning.md"
HEADCOUNT = "- [ ] [[Mara Lindqvist]] to confirm headcount 📅 2025-11-10"
FOLLOW_UP = "- Follow up with [[Mara Lindqvist]] on pricing"


def run_nvim(mode, vault, env_extra, timeout=90):
    """Runs drive.lua in headless nvim; returns its JSON report."""
    fd, out = tempfile.mkstemp(prefix="qp-nvim-", suffix=".json")
    os.close(fd)
    env = dict(os.environ, QP_MODE=mode, QP_VAULT=vault, QP_OUT=out,
               QUIPUD=quipud_path(), **env_extra)
    # Keep the user's own Neovim state out of the way.
    home = tempfile.mkdtemp(prefix="qp-nvim-home-")
    env.update(XDG_CONFIG_HOME=os.path.join(home, "config"),
               XDG_DATA_HOME=os.path.join(home, "data"),
               XDG_STATE_HOME=os.path.join(home, "state"))
    cmd = [NVIM, "--headless", "-u", "NONE", "-i", "NONE", "-n",
           "--cmd", "set rtp+=" + PLUGIN,
           "--cmd", "let g:quipu_today = '2025-11-01'",
           "-c", "luafile " + DRIVER]
    try:
        p = subprocess.run(cmd, env=env, cwd=vault, capture_output=True, text=True,
                           timeout=timeout)
        with open(out, encoding="utf-8") as f:
            text = f.read()
        report = json.loads(text) if text else {}
    finally:
        os.unlink(out)
        shutil.rmtree(home, ignore_errors=True)
    if p.returncode != 0 or report.get("error"):
        raise AssertionError("nvim %s failed (rc %d): %s\nstderr: %s"
                             % (mode, p.returncode, report.get("error"), p.stderr))
    return report


def eq(got, want, what):
    assert got == want, "%s:\n got  %s\n want %s" % (
        what, json.dumps(got, ensure_ascii=False, indent=1),
        json.dumps(want, ensure_ascii=False, indent=1))


_main = {}


def main_report():
    """One headless session against a real daemon, shared by the test_main_*
    checks below (each asserts one part of what it saw)."""
    if not _main:
        with Daemon(files=FILES) as d:
            _main["r"] = run_nvim("main", d.vault, {"QUIPU_SOCKET": d.socket})
            _main["socket"], _main["vault"] = d.socket, d.vault
        steps = _main["r"]["steps"]
        print("steps (ms): " + ", ".join("%s=%s%s" % (k, v["ms"], "" if v["ok"] else " TIMEOUT")
                                         for k, v in sorted(steps.items())))
    return _main["r"]


def test_main_backlinks_panel():
    r = main_report()
    eq(r["panel_filetype"], "quipu", "panel filetype")
    eq(r["panel_windows"], 2, "windows after :QuipuBacklinks")
    eq(r["backlinks"], [
        "Backlinks: People/Mara Lindqvist.md",
        "",
        "Linked mentions (1)",
        P_1ON1,
        "  L10: " + HEADCOUNT,
        "",
        "Unlinked mentions (1)",
        P_DEBRIEF,
        "  L9: Mara Lindqvist wants a monthly review.",
    ], "backlinks panel")


def test_main_backlinks_live_update():
    # The link appended on disk shows up by push update, within 2 s.
    r = main_report()
    assert r["steps"]["backlinks_update"]["ok"], "panel not updated within 2 s"
    eq(r["backlinks_updated"], [
        "Backlinks: People/Mara Lindqvist.md",
        "",
        "Linked mentions (2)",
        P_1ON1,
        "  L10: " + HEADCOUNT,
        P_PLANNING,
        "  L10: " + FOLLOW_UP,
        "",
        "Unlinked mentions (1)",
        P_DEBRIEF,
        "  L9: Mara Lindqvist wants a monthly review.",
    ], "backlinks panel after the append")


def test_main_backlinks_pages():
    # panel_page = 1: the first page says how many there are and how to
    # get more; `+` shows the next.
    r = main_report()
    assert r["steps"]["page"]["ok"] and r["steps"]["page_more"]["ok"], (r["steps"], r.get("page"))
    eq(r["page"], [
        "Backlinks: People/Mara Lindqvist.md",
        "",
        "Linked mentions (1 of 2)",
        P_1ON1,
        "  L10: " + HEADCOUNT,
        "",
        "Unlinked mentions (1)",
        P_DEBRIEF,
        "  L9: Mara Lindqvist wants a monthly review.",
        "",
        "… first 1 per list shown: press + for more",
    ], "first page")
    eq(r["page_more"], r["backlinks_updated"], "after +")


def test_main_mentions_panel():
    eq(main_report()["mentions"], [
        "Mentions: People/Mara Lindqvist.md",
        "",
        "Mentioned in (3)",
        "2025-11-20 Planning (%s)" % P_PLANNING,
        "  L10: " + FOLLOW_UP,
        "2025-11-14 RFP debrief and federal coordination (air-gapped focus) (%s)" % P_DEBRIEF,
        "  L9: Mara Lindqvist wants a monthly review.",
        "2025-10-30 1:1 with Rob Kestrel (%s)" % P_1ON1,
        "  L10: " + HEADCOUNT,
        "",
        "Missing from Recent Context (2)",
        "2025-11-20 Planning (%s)" % P_PLANNING,
        "2025-10-30 1:1 with Rob Kestrel (%s)" % P_1ON1,
        "",
        "Stale entries (1)",
        "  L13: Old offsite",
    ], "mentions panel")


def test_main_jump_and_follow():
    r = main_report()
    # <CR> on "L10: - [ ] [[Mara..." lands on the link: line 10, byte column 7.
    eq(r["jump"], {"file": P_1ON1, "cursor": [10, 6]}, "<CR> jump")
    eq(r["followed_meeting"], [
        "Backlinks: " + P_1ON1,
        "",
        "Linked mentions (0)",
        "",
        "Unlinked mentions (0)",
    ], "panel following the meeting")
    eq(r["followed_person"], [
        "Backlinks: People/Rob Kestrel.md",
        "",
        "Linked mentions (1)",
        P_1ON1,
        "  L9: Omar and [[Rob Kestrel]] discussed the support model.",
        "",
        "Unlinked mentions (0)",
    ], "panel following :edit")
    # An empty Lua table comes back as [] from json_encode.
    eq(r["after_close"]["state"] or {}, {}, "panel state after :QuipuClose")
    eq(r["after_close"]["windows"], 1, "windows after :QuipuClose")


def test_main_checkhealth():
    r = main_report()
    health = "\n".join(r["health"])
    assert "socket: " + _main["socket"] in health, health
    assert "daemon reachable: quipud " in health, health
    assert "state: ready, vault %s" % _main["vault"] in health, health


# Virtual lines under the closing fence (line 21) of the tasks block.
TASK1 = "  [ ] [[Mara Lindqvist]] to confirm headcount  📅 2025-11-10  (%s:10)" % P_1ON1
TASK2 = "  [ ] Send Mara the pricing deck  📅 2025-12-01  (%s:10)" % P_DEBRIEF


def test_main_tasks_block():
    r = main_report()
    eq(r["tasks_blocks"], [{"row": 21, "lines": [TASK1, "  1 task"]}], "tasks block")
    assert r["steps"]["tasks_blocks_update"]["ok"], "tasks block not updated within 2 s"
    eq(r["tasks_blocks_updated"], [{"row": 21, "lines": [TASK1, TASK2, "  2 tasks"]}],
       "tasks block after a new task")


def test_main_tasks_quickfix():
    r = main_report()
    eq(r["qf"], [
        {"file": P_1ON1, "lnum": 10, "text": "[ ] [[Mara Lindqvist]] to confirm headcount  📅 2025-11-10"},
        {"file": P_DEBRIEF, "lnum": 10, "text": "[ ] Send Mara the pricing deck  📅 2025-12-01"},
    ], ":QuipuTasks quickfix")
    eq(r["qf_title"], "quipu tasks: not done | description includes Mara", "quickfix title")


def test_main_search_quickfix():
    eq(main_report()["search_qf"], [
        {"file": P_DEBRIEF, "lnum": 9, "col": 24, "text": "Mara Lindqvist wants a monthly review."},
    ], ":QuipuSearch quickfix")


def test_main_no_warnings():
    eq([n for n in main_report()["notes"] if n["level"] and n["level"] >= 3], [],
       "warnings and errors")


def test_dead_daemon_one_message():
    with tempfile.TemporaryDirectory() as tmp:
        vault = os.path.join(tmp, "vault")
        for rel, text in FILES.items():
            p = os.path.join(vault, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w", encoding="utf-8") as f:
                f.write(text)
        sock = os.path.join(tmp, "none.sock")
        r = run_nvim("dead", vault, {"QUIPU_SOCKET": sock})
    msgs = [n["msg"] for n in r["notes"]]
    eq(len(msgs), 1, "messages for a dead daemon: %r" % msgs)
    assert msgs[0].startswith("quipu: quipud is not reachable (cannot connect to %s: ENOENT" % sock), msgs
    health = "\n".join(r["health"])
    assert "daemon not reachable" in health, health


def test_autostart():
    with tempfile.TemporaryDirectory() as tmp:
        vault = os.path.join(tmp, "vault")
        for rel, text in FILES.items():
            p = os.path.join(vault, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w", encoding="utf-8") as f:
                f.write(text)
        vault = os.path.realpath(vault)
        sock = os.path.join(tmp, "run", "auto.sock")
        pid = None
        try:
            r = run_nvim("autostart", vault, {
                "QP_SOCKET": sock,
                "XDG_CACHE_HOME": os.path.join(tmp, "cache"),
                "XDG_RUNTIME_DIR": os.path.join(tmp, "run"),
            })
            pid = r.get("spawned")
            assert pid, "the plugin did not start quipud"
            eq(r["backlinks"][:3], ["Backlinks: People/Mara Lindqvist.md", "",
                                    "Linked mentions (1)"], "panel of an autostarted daemon")
            # The daemon outlives the editor (it was started detached).
            os.kill(pid, 0)
            # It logs to a file under $XDG_STATE_HOME/quipu/, not to the editor.
            assert "/state/quipu/quipud-vault.log" in r["log"], r["log"]
            assert "listening on " + sock in (r["log_text"] or ""), r["log_text"]
            # No "not reachable" while it started.
            eq([n["msg"] for n in r["notes"] if n["level"] and n["level"] >= 3], [],
               "warnings around autostart")
            # Another editor stops it: :Quipu stop, through `quipu stop`.
            r = run_nvim("stop", vault, {
                "QP_SOCKET": sock, "QP_PID": str(pid),
                "XDG_CACHE_HOME": os.path.join(tmp, "cache"),
                "XDG_RUNTIME_DIR": os.path.join(tmp, "run"),
            })
            assert r["stopped"], ":Quipu stop did not end the daemon: %r" % r["notes"]
            pid = None
            eq([n["msg"] for n in r["notes"] if n["level"] and n["level"] >= 3], [],
               "warnings around :Quipu stop")
        finally:
            if pid:
                os.kill(pid, signal.SIGTERM)
                for _ in range(200):
                    try:
                        os.kill(pid, 0)
                    except ProcessLookupError:
                        break
                    time.sleep(0.025)


BOARD = """# Board

```tasks
not done AND
```

```tasks
not done
description includes Mara
explain
```
"""


def test_polish():
    with Daemon(files=dict(FILES, **{"Notes/Board.md": BOARD})) as d:
        r = run_nvim("polish", d.vault, {"QUIPU_SOCKET": d.socket})
    eq(r["complete_all"], ["backlinks", "close", "mentions", "rename", "search", "start", "status",
                           "stop", "tasks"],
       ":Quipu completion")
    eq(r["complete_ba"], ["backlinks"], ":Quipu ba completion")
    # The block's fence is line 3, "not done AND" its query line 1: line 4.
    eq(r["board_blocks"], [{"row": 5, "lines": [
        "  quipu: query error at line 4: do not understand query",
        '    Problem line: "not done AND"',
    ]}, {"row": 11, "lines": [
        # The engine's explanation first, then the tasks (FILES' one task).
        "  not done",
        "  description includes Mara",
        TASK1,
        "  1 task",
    ]}], "a multi-line query error, one virtual line per line; explain above a block's tasks")
    eq(r["mentions_meeting"][0], "Mentions: " + P_1ON1, "mentions panel header")
    assert any(l.startswith("not a person note (kind: meeting)") for l in r["mentions_meeting"]), \
        r["mentions_meeting"]
    eq(r["hl_defined_again"], 1, "highlights defined again on ColorScheme")
    eq(r["hl_after"], {"title": "Title", "error": "ErrorMsg"}, "highlights after ColorScheme")
    eq([n for n in r["notes"] if n["level"] and n["level"] >= 3], [], "warnings")


if __name__ == "__main__":
    if not NVIM:
        print("SKIP: nvim not found; the Neovim plugin was not tested")
        sys.exit(0)
    print(subprocess.run([NVIM, "--version"], capture_output=True, text=True).stdout.splitlines()[0])
    run_tests(globals())
