"""Integration tests of rename.plan and `quipu mv` / `rename-heading` /
`rename-block` / `rename-tag` against a real quipud.

Expected file contents and diffs are written by hand. Safety: a file edited
between plan and apply makes the CLI refuse and write nothing; a kill -9 in
the middle of applying leaves every file either its old or its new content,
never a part. The index follows the rename through the watcher.
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_harness import Daemon, RpcError, quipu_path, run_tests  # noqa: E402

QUIPU = quipu_path()

MARA = "---\ntype: person\n---\n# Mara\n\n## Key Facts\n\n- 2025-01-02: Mentioned in: Sync\n"
FILES = {
    "People/Mara.md": MARA,
    "Meetings/2025-01-02 Sync.md": '---\ntype: meeting\nattendees: ["[[Mara]]"]\n---\n'
                                   "Met [[Mara|M]] and ![[Mara#Key Facts]].\n\n`[[Mara]]`\n",
    "Notes/deep/n.md": "See [m](../../People/Mara.md) and [[People/Mara]].\n",
    "Other.md": "no links #proj/a\n",
}


def run(d, args, env=None, cwd=None, timeout=60):
    e = dict(os.environ)
    e["NO_COLOR"] = "1"
    e["QUIPU_SOCKET"] = d.socket
    e.update(env or {})
    p = subprocess.run([QUIPU] + args, capture_output=True, text=True, env=e, cwd=cwd,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def eq(got, want, what=""):
    assert got == want, "%s:\ngot  %r\nwant %r" % (what, got, want)


def wait_for(pred, timeout=10.0, what="condition"):
    """Polls pred until it holds. A not-found answer counts as "not yet":
    the renamed note is not in the index until the watcher reports it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except RpcError as e:
            if e.kind != "not_found":
                raise
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def vault_files(d):
    out = {}
    for dirpath, _dirs, names in os.walk(d.vault):
        for n in names:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, d.vault)
            if rel.startswith(".obsidian"):
                continue
            with open(p, "rb") as f:
                out[rel] = f.read().decode()
    return out


def test_mv_note():
    with Daemon(files=FILES) as d:
        rc, out, err = run(d, ["mv", "Mara", "Mara Lind"])
        eq(rc, 0, err)
        eq(out, "People/Mara.md -> People/Mara Lind.md\n5 links in 2 files\n", "summary")
        eq(d.read("Meetings/2025-01-02 Sync.md"),
           '---\ntype: meeting\nattendees: ["[[Mara Lind]]"]\n---\n'
           "Met [[Mara Lind|M]] and ![[Mara Lind#Key Facts]].\n\n`[[Mara]]`\n", "meeting")
        eq(d.read("Notes/deep/n.md"),
           "See [m](../../People/Mara%20Lind.md) and [[Mara Lind]].\n", "relative")
        assert not os.path.exists(d.abspath("People/Mara.md"))
        eq(d.read("People/Mara Lind.md"), MARA, "moved")
        leftovers = [p for p in vault_files(d) if ".quipu-" in p]
        eq(leftovers, [], "temporary files")
        c = d.client()
        wait_for(lambda: len(c.request("backlinks", {"note": "People/Mara Lind.md"})["linked"])
                 == 2, what="the index to follow")
        eq(c.request("resolve", {"link": "Mara"})["path"], None, "old name")


def test_mv_dry_run_diff():
    with Daemon(files=FILES) as d:
        before = vault_files(d)
        rc, out, err = run(d, ["mv", "People/Mara.md", "Team/", "--dry-run"])
        eq(rc, 0, err)
        eq(out,
           "diff --git a/People/Mara.md b/Team/Mara.md\n"
           "rename from People/Mara.md\n"
           "rename to Team/Mara.md\n"
           "diff --git a/Notes/deep/n.md b/Notes/deep/n.md\n"
           "--- a/Notes/deep/n.md\n"
           "+++ b/Notes/deep/n.md\n"
           "@@ -1,1 +1,1 @@\n"
           "-See [m](../../People/Mara.md) and [[People/Mara]].\n"
           "+See [m](../../Team/Mara.md) and [[Mara]].\n"
           "People/Mara.md -> Team/Mara.md\n"
           "2 links in 1 file\n"
           "(dry run: nothing written)\n", "diff")
        eq(vault_files(d), before, "nothing written")


def test_mv_folder_and_json():
    with Daemon(files=FILES) as d:
        rc, out, err = run(d, ["--json", "mv", "People", "Team/Core", "--dry-run"])
        eq(rc, 0, err)
        plan = json.loads(out)
        eq(plan["kind"], "folder", "kind")
        eq(plan["renames"], [{"from": "People", "to": "Team/Core", "folder": True}], "renames")
        eq([f["path"] for f in plan["files"]], ["Notes/deep/n.md"], "files")
        e = plan["files"][0]["edits"][0]
        eq((e["line"], e["column"], e["end_line"], e["end_column"], e["old"], e["new"]),
           (1, 9, 1, 29, "../../People/Mara.md", "../../Team/Core/Mara.md"), "edit")
        assert len(plan["files"][0]["hash"]) == 16
        rc, out, err = run(d, ["mv", "People", "Team/Core"])
        eq(rc, 0, err)
        eq(d.read("Team/Core/Mara.md"), MARA, "moved")
        assert not os.path.exists(d.abspath("People"))


def test_meeting_rename_updates_mentioned_in():
    files = dict(FILES)
    with Daemon(files=files) as d:
        rc, out, err = run(d, ["mv", "Meetings/2025-01-02 Sync.md", "2025-01-02 Weekly sync"])
        eq(rc, 0, err)
        # the meeting's title is its file name: "2025-01-02 Sync" is not what
        # the person note lists ("Sync"), so nothing there changes
        eq(d.read("People/Mara.md"), MARA, "person")
    files["People/Mara.md"] = MARA.replace("Mentioned in: Sync", "Mentioned in: 2025-01-02 Sync")
    with Daemon(files=files) as d:
        rc, out, err = run(d, ["mv", "Meetings/2025-01-02 Sync.md", "2025-01-02 Weekly sync"])
        eq(rc, 0, err)
        eq(d.read("People/Mara.md"),
           MARA.replace("Mentioned in: Sync", "Mentioned in: 2025-01-02 Weekly sync"), "person")


def test_rename_heading_block_tag():
    files = {
        "N.md": "# N\n\n## Old part\n\ntext ^b1\n",
        "s.md": "[[N#Old part]] [x](N.md#Old%20part) [[N#^b1|x]] #proj #proj/a #project\n",
        "t.md": "---\ntags: [proj/b]\n---\n```\n#proj\n```\n",
    }
    with Daemon(files=files) as d:
        rc, out, err = run(d, ["rename-heading", "N", "Old part", "New part"])
        eq(rc, 0, err)
        eq(out, "2 links in 2 files\n", "heading summary")
        eq(d.read("N.md"), "# N\n\n## New part\n\ntext ^b1\n", "heading line")
        rc, out, err = run(d, ["rename-block", "N.md", "b1", "intro"])
        eq(rc, 0, err)
        rc, out, err = run(d, ["rename-tag", "#proj", "work"])
        eq(rc, 0, err)
        eq(out, "3 tags in 2 files\n", "tag summary")
        eq(d.read("s.md"),
           "[[N#New part]] [x](N.md#New%20part) [[N#^intro|x]] #work #work/a #project\n", "s")
        eq(d.read("t.md"), "---\ntags: [work/b]\n---\n```\n#proj\n```\n", "t")


def test_refusals():
    with Daemon(files={"N.md": "## A\n\n## B\n", "s.md": "[[N#A]] [[N#B]]\n", "A.md": "",
                       "B.md": ""}) as d:
        rc, out, err = run(d, ["rename-heading", "N", "A", "B"])
        eq(rc, 1, "exit")
        eq(err, "quipu: refused: s.md:1:9: [[N#B]] would reach line 1 of N.md instead of line 3\n",
           "message")
        rc, out, err = run(d, ["mv", "A.md", "B"])
        eq((rc, err), (1, "quipu: B.md already exists\n"), "taken")
        rc, out, err = run(d, ["mv", "A.md"])
        eq(rc, 2, "usage")
        c = d.client()
        try:
            c.request("rename.plan", {"path": "Nope.md", "to": "X.md"})
            raise AssertionError("no error")
        except RpcError as e:
            eq(e.code, -32001, "not found")


def test_move_into_symlink_leading_out_is_refused():
    """A folder that is a symlink out of the vault is not part of it (the
    walk does not follow it): moving a note there is refused, whole."""
    import tempfile
    with tempfile.TemporaryDirectory() as outside, \
            Daemon(files={"A.md": "# A\n", "s.md": "[[A]]\n"}) as d:
        os.symlink(outside, os.path.join(d.vault, "Out"))
        before = vault_files(d)
        rc, out, err = run(d, ["mv", "A.md", "Out/A.md"])
        eq(rc, 1, "exit")
        eq(err, "quipu: Out/A.md: its folder leads outside the vault (a symlink): "
                "nothing written\n", "message")
        eq(os.listdir(outside), [], "nothing outside")
        eq(vault_files(d), before, "untouched")
        rc, out, err = run(d, ["mv", "A.md", "Out/deeper/A.md"])
        eq(rc, 1, "exit, deeper")
        eq(os.listdir(outside), [], "no folder made outside")


def test_edited_between_plan_and_apply_is_refused():
    with Daemon(files=FILES) as d:
        before = vault_files(d)
        e = dict(os.environ, NO_COLOR="1", QUIPU_SOCKET=d.socket, QUIPU_APPLY_DELAY_MS="1500")
        p = subprocess.Popen([QUIPU, "mv", "Mara", "Mara Lind"], env=e, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        edited = before["Notes/deep/n.md"] + "one more line\n"
        d.write("Notes/deep/n.md", edited)
        out, err = p.communicate(timeout=30)
        eq(p.returncode, 1, "exit")
        assert "Notes/deep/n.md changed since the rename was planned" in err, err
        before["Notes/deep/n.md"] = edited
        eq(vault_files(d), before, "untouched")


def test_kill_during_apply_leaves_whole_files():
    old = "links [[Hub]] and [h](Hub.md)\n"
    new = "links [[Spoke]] and [h](Spoke.md)\n"
    files = {"Hub.md": "# Hub\n"}
    for i in range(40):
        files["s/n%02d.md" % i] = old
    with Daemon(files=files) as d:
        e = dict(os.environ, NO_COLOR="1", QUIPU_SOCKET=d.socket, QUIPU_APPLY_DELAY_MS="40")
        p = subprocess.Popen([QUIPU, "mv", "Hub", "Spoke"], env=e, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        # kill once a few files are new (each waits 40 ms before its turn)
        wait_for(lambda: sum(d.read("s/n%02d.md" % i) == new for i in range(40)) >= 5,
                 timeout=20, what="a few files replaced")
        p.send_signal(signal.SIGKILL)
        p.wait()
        seen = {"old": 0, "new": 0}
        for i in range(40):
            text = d.read("s/n%02d.md" % i)
            assert text in (old, new), "s/n%02d.md is neither old nor new: %r" % (i, text)
            seen["old" if text == old else "new"] += 1
        assert seen["old"] > 0 and seen["new"] > 0, seen
        assert os.path.exists(d.abspath("Hub.md")), "renames come last"


def test_nfd_file_name():
    nfd = "Cafe\u0301.md"
    with Daemon(files={nfd: "x\n", "s.md": "[[Caf\u00e9]]\n"}) as d:
        eq(d.client().request("resolve", {"link": "Caf\u00e9"})["path"], "Caf\u00e9.md", "indexed")
        rc, out, err = run(d, ["mv", "Caf\u00e9", "Bar"])
        eq(rc, 0, err)
        eq(d.read("s.md"), "[[Bar]]\n", "link")
        assert os.path.exists(d.abspath("Bar.md"))
        assert not os.path.exists(d.abspath(nfd))


NVIM_DRIVER = r"""
local out = { notes = {} }
vim.notify = function(msg) table.insert(out.notes, msg) end
vim.cmd('runtime plugin/quipu.lua')
local vault = vim.env.QP_VAULT
vim.cmd('edit ' .. vim.fn.fnameescape(vault .. '/People/Mara.md'))
vim.cmd('QuipuRename Mara Lind')
out.renamed = vim.wait(20000, function()
  return vim.api.nvim_buf_get_name(0):match('Mara Lind%.md$') ~= nil
end, 20)
out.name = vim.api.nvim_buf_get_name(0)
-- the index follows the move through the watcher: wait for it
vim.wait(20000, function()
  vim.fn.system({ vim.g.quipu_quipu_cmd, '--socket', vim.env.QUIPU_SOCKET, 'note',
    'People/Mara Lind.md' })
  return vim.v.shell_error == 0
end, 50)
-- on the heading line: the heading
vim.api.nvim_win_set_cursor(0, { 6, 4 })
local n = #out.notes
vim.cmd('QuipuRename Facts')
out.heading = vim.wait(20000, function() return #out.notes > n end, 20)
out.lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
local f = assert(io.open(vim.env.QP_OUT, 'w'))
f:write(vim.fn.json_encode(out))
f:close()
vim.cmd('qall!')
"""


def test_nvim_quipu_rename():
    import shutil
    import tempfile
    nvim = shutil.which("nvim")
    if not nvim:
        print("skip: no nvim")
        return
    plugin = os.path.join(os.environ.get("QP_SOURCE_DIR", os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")), "contrib", "nvim")
    with Daemon(files=FILES) as d:
        tmp = tempfile.mkdtemp(prefix="qp-nvim-rename-")
        driver = os.path.join(tmp, "drive.lua")
        outp = os.path.join(tmp, "out.json")
        with open(driver, "w") as f:
            f.write(NVIM_DRIVER)
        env = dict(os.environ, QP_VAULT=d.vault, QP_OUT=outp, QUIPU_SOCKET=d.socket,
                   XDG_CONFIG_HOME=tmp, XDG_DATA_HOME=tmp, XDG_STATE_HOME=tmp)
        cmd = [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-n", "--cmd",
               "set rtp+=" + plugin, "--cmd", "let g:quipu_autostart = 0", "--cmd",
               "let g:quipu_quipu_cmd = '%s'" % QUIPU, "-c", "luafile " + driver]
        p = subprocess.run(cmd, env=env, cwd=d.vault, capture_output=True, text=True,
                           timeout=90)
        with open(outp) as f:
            out = json.load(f)
        shutil.rmtree(tmp, ignore_errors=True)
        assert p.returncode == 0, p.stderr
        assert out["renamed"], out
        eq(out["name"], d.abspath("People/Mara Lind.md"), "buffer follows the file")
        assert out["heading"], out
        eq(out["lines"][5], "## Facts", "heading renamed, buffer reloaded: %r" % out["notes"])
        eq(d.read("Meetings/2025-01-02 Sync.md"),
           '---\ntype: meeting\nattendees: ["[[Mara Lind]]"]\n---\n'
           "Met [[Mara Lind|M]] and ![[Mara Lind#Facts]].\n\n`[[Mara]]`\n", "links")


if __name__ == "__main__":
    run_tests(globals())
