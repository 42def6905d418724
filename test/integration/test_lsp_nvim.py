"""`quipu lsp` with Neovim 0.7's built-in LSP client, headless, against a
real quipud (test/integration/nvim/lsp.lua drives the editor).

Expected positions are worked out by hand below from the fixture's text:
Neovim reports diagnostics and takes cursors in bytes and converts to and
from the server's UTF-16 itself, so a wrong conversion on the server shows
up as a wrong byte column here. Skips (exit 0) when nvim is missing."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from qp_harness import Daemon, quipu_path, run_tests  # noqa: E402

NVIM = shutil.which("nvim")
DRIVER = os.path.join(HERE, "nvim", "lsp.lua")

ANN = """---
type: person
name: Ann Émile
---

# Ann Émile

## Recent Context

- 2025-01-05: Mentioned in: Kickoff
- 2024-12-01: Mentioned in: Old offsite

## Notes 😀

Some text ^blk1
"""

KICKOFF = """---
type: meeting
title: Kickoff
date: '2025-01-05'
attendees:
- "[[Ann Émile]]"
---

# Kickoff

With 😀 [[Ann Émile]] and [[Ann Émile#Notes 😀|notes]].
See [[Missing Note]] and [[Ann Émile#^blk1]].
"""

REVIEW = """---
type: meeting
title: Review
date: '2025-02-01'
---

# Review

Ann Émile reviewed the plan.
"""

CRLF = "# Crlf\r\n\r\nÉé 😀 [[Ann Émile#Notes 😀]]\r\n"

FILES = {
    ".obsidian/app.json": "{}\n",
    "People/Ann Émile.md": ANN,
    "Meetings/2025-01-05 Kickoff.md": KICKOFF,
    "Meetings/2025-02-01 Review.md": REVIEW,
    "Notes/Crlf.md": CRLF,
}
KICK = "Meetings/2025-01-05 Kickoff.md"
ANNP = "People/Ann Émile.md"

_r = {}


def report():
    if _r:
        return _r
    with Daemon(files=FILES) as d:
        fd, out = tempfile.mkstemp(prefix="qp-lsp-nvim-", suffix=".json")
        os.close(fd)
        home = tempfile.mkdtemp(prefix="qp-lsp-home-")
        env = dict(os.environ, QP_VAULT=d.vault, QP_OUT=out, QUIPU=quipu_path(),
                   QUIPU_SOCKET=d.socket, XDG_CONFIG_HOME=home + "/c", XDG_DATA_HOME=home + "/d",
                   XDG_STATE_HOME=home + "/s", XDG_CACHE_HOME=home + "/k")
        try:
            p = subprocess.run([NVIM, "--headless", "-u", "NONE", "-i", "NONE", "-n",
                                "-c", "luafile " + DRIVER], env=env, cwd=d.vault,
                               capture_output=True, text=True, timeout=120)
            with open(out, encoding="utf-8") as f:
                text = f.read()
            _r.update(json.loads(text) if text else {})
            _r["after_file"] = d.read(ANNP)
            with d.client() as c:
                m = c.call("complete.notes", {"prefix": "x"})
            _r["methods"] = "error" not in m or m["error"]["code"] != -32601
        finally:
            os.unlink(out)
            shutil.rmtree(home, ignore_errors=True)
        if p.returncode != 0 or _r.get("error") or not text:
            raise AssertionError("nvim failed (rc %d): %s\nstderr: %s"
                                 % (p.returncode, _r.get("error"), p.stderr))
        print("steps (ms): " + json.dumps(_r.get("steps")))
    return _r


def eq(got, want, what):
    assert got == want, "%s:\n got  %s\n want %s" % (
        what, json.dumps(got, ensure_ascii=False), json.dumps(want, ensure_ascii=False))


def test_encoding():
    eq(report()["offset_encoding"], "utf-16", "negotiated encoding")


def test_definition():
    r = report()
    eq(r["def_note"], [[ANNP, 0, 0, 0, 0]], "[[Ann Émile]]")
    # "## Notes 😀" is line 12 (0-based) of Ann's note; ^blk1 is on line 14.
    eq(r["def_heading"], [[ANNP, 12, 0, 12, 0]], "[[Ann Émile#Notes 😀|notes]]")
    eq(r["def_block"], [[ANNP, 14, 0, 14, 0]], "[[Ann Émile#^blk1]]")
    eq(r["def_frontmatter"], [[ANNP, 0, 0, 0, 0]], 'attendees: "[[Ann Émile]]"')
    eq(r["def_none"], None, "definition off any link")
    # Notes/Crlf.md line 2 "Éé 😀 [[Ann Émile#Notes 😀]]" after CRLF endings.
    eq(r["crlf_fileformat"], "dos", "fileformat")
    # By then the code action has added a line above the heading (saved).
    eq(r["def_crlf"], [[ANNP, 13, 0, 13, 0]], "definition in a CRLF note")


def test_hover():
    h = report()["hover"]
    assert "**Ann Émile** · person" in h, h
    # Kickoff links Ann four times (frontmatter and body), Crlf.md once.
    assert "5 backlinks in 2 notes" in h, h
    assert "Some text ^blk1" in h, h


def test_references():
    r = report()
    # UTF-16 columns: line 10 "With 😀 [[Ann Émile]] and [[Ann Émile#Notes 😀|notes]]."
    # "With " 5 + 😀 2 + " " 1 = 8; the link is 13 units; " and " puts the
    # second at 26, 28 units long. Line 11 "See [[Missing Note]] and " is 25.
    # Line 5 is the frontmatter item `- "[[Ann Émile]]"`: inside the quotes.
    # Crlf.md line 2: "Éé " 3 + 😀 2 + " " 1 = 6, the link 22 units.
    eq(r["refs_note"], [
        [KICK, 10, 26, 10, 54],
        [KICK, 10, 8, 10, 21],
        [KICK, 11, 25, 11, 44],
        [KICK, 5, 3, 5, 16],
        ["Notes/Crlf.md", 2, 6, 2, 28],
    ], "references to the note")
    eq(r["refs_heading"], [
        [KICK, 10, 26, 10, 54],
        ["Notes/Crlf.md", 2, 6, 2, 28],
    ], "references to ## Notes 😀")
    eq(r["refs_block"], [[KICK, 11, 25, 11, 44]], "references to ^blk1")


def test_symbols_and_folds():
    r = report()
    eq(r["symbols"], [["Ann Émile", 5, [["Recent Context", 7, []], ["Notes 😀", 12, []]]]],
       "document symbols")
    eq(r["folds"], [[0, 3], [5, 14], [7, 11], [12, 14]], "folding ranges")


def test_diagnostics_live():
    r = report()
    # [[Missing Note]]: line 11, bytes 4..20 (Neovim's columns are bytes).
    eq(r["diags"], [[11, 4, 11, 20, 'unresolved link: no note named "Missing Note"']],
       "diagnostics of the meeting")
    assert r["steps"]["diag_clear"]["ok"], "not cleared after the note was created"


def test_person_diagnostics():
    eq(report()["ann_diags"], [
        [7, 'missing from Recent Context: mentioned in "Review" '
            '(Meetings/2025-02-01 Review.md)'],
        [10, 'stale Recent Context line: no meeting titled "Old offsite" mentions this note'],
    ], "person diagnostics")


def test_code_lens_and_command():
    r = report()
    eq(r["lenses"], [
        [0, "2 backlinks · 1 unlinked", "quipu.backlinks"],
        [0, "2 meetings · 1 missing from Recent Context", "quipu.mentions"],
    ], "code lenses")
    # The meetings that mention Ann: Kickoff's links, Review's unlinked
    # "Ann Émile" (line 8, 9 UTF-16 units).
    eq(r["cmd_mentions"], [
        [KICK, 10, 26, 10, 54],
        [KICK, 10, 8, 10, 21],
        [KICK, 11, 25, 11, 44],
        [KICK, 5, 3, 5, 16],
        ["Meetings/2025-02-01 Review.md", 8, 0, 8, 9],
    ], "quipu.mentions locations")


def test_code_action_applied():
    r = report()
    assert 'Add 1 missing "Mentioned in" line to Recent Context' in r["actions"], r["actions"]
    eq(r["after_action"], [
        "",
        "- 2025-02-01: Mentioned in: Review",
        "- 2025-01-05: Mentioned in: Kickoff",
        "- 2024-12-01: Mentioned in: Old offsite",
    ], "Recent Context after the action")
    assert "- 2025-02-01: Mentioned in: Review\n- 2025-01-05" in r["after_file"], r["after_file"]
    assert r["steps"]["action_clear"]["ok"], "missing-mention diagnostic not cleared"


def test_completion_and_workspace_symbols():
    r = report()
    if not r["methods"]:
        print("skip: this quipud has no complete.* / symbols.search")
        return
    # "See [[Ann" typed on a new last line: the link text replaces "Ann"
    # (UTF-16 character 6) and closes the link.
    eq(r["completion"], [["Ann Émile", "Ann Émile]]", 6]], "completion after [[")
    eq(r["wsymbols"], [["Ann Émile", 1, ANNP, 0], ["Ann Émile", 15, ANNP, 5]],
       "workspace symbols")


def run_plugin(extra_cmd, wait_ms=10000):
    """Headless nvim with contrib/nvim on the runtimepath: does a Markdown
    buffer of the vault get the quipu client by itself?"""
    plugin = os.path.join(HERE, "..", "..", "contrib", "nvim")
    with Daemon(files=FILES) as d:
        fd, out = tempfile.mkstemp(prefix="qp-lsp-plugin-", suffix=".json")
        os.close(fd)
        home = tempfile.mkdtemp(prefix="qp-lsp-home-")
        lua = ("vim.wait(tonumber(os.getenv('QP_WAIT')), function() return #vim.lsp.buf_get_clients(0) > 0 end, 20); "
               "local names = {}; for _, c in pairs(vim.lsp.buf_get_clients(0)) do "
               "table.insert(names, c.name) end; "
               "local f = io.open(os.getenv('QP_OUT'), 'w'); "
               "f:write(vim.fn.json_encode({clients = names})); f:close(); vim.cmd('qa!')")
        env = dict(os.environ, QP_OUT=out, QP_WAIT=str(wait_ms), QUIPU_SOCKET=d.socket,
                   XDG_CONFIG_HOME=home + "/c",
                   XDG_DATA_HOME=home + "/d", XDG_STATE_HOME=home + "/s",
                   XDG_CACHE_HOME=home + "/k")
        cmd = [NVIM, "--headless", "-u", "NONE", "-i", "NONE", "-n",
               "--cmd", "set rtp+=" + plugin,
               "--cmd", "lua vim.g.quipu_lsp_cmd = {'%s', 'lsp'}" % quipu_path()] + extra_cmd + [
               "--cmd", "filetype on",
               # -u NONE loads no plugins: load ours as startup would.
               "-c", "runtime! plugin/quipu_lsp.lua",
               "-c", "edit " + os.path.join(d.vault, KICK).replace(" ", "\\ "),
               "-c", "lua " + lua]
        try:
            p = subprocess.run(cmd, env=env, cwd=d.vault, capture_output=True, text=True,
                               timeout=60)
            with open(out, encoding="utf-8") as f:
                text = f.read()
        finally:
            os.unlink(out)
            shutil.rmtree(home, ignore_errors=True)
        assert text, "nvim wrote nothing (rc %d): %s" % (p.returncode, p.stderr)
        return json.loads(text)


def test_plugin_starts_the_server():
    eq(run_plugin([])["clients"], ["quipu"], "clients of a vault's Markdown buffer")


def test_plugin_switch_off():
    # g:quipu_lsp = 0: the buffer gets no client (the wait above runs out).
    off = run_plugin(["--cmd", "let g:quipu_lsp = 0"], wait_ms=2000)
    eq(off["clients"] or [], [], "clients when off")


if __name__ == "__main__":
    if NVIM is None:
        print("skip: nvim not installed")
        sys.exit(0)
    run_tests(globals())
