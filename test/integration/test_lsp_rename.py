"""`quipu lsp` renames: textDocument/prepareRename, textDocument/rename and
workspace/willRenameFiles, answered from quipud's rename.plan, spoken to at
the byte level (test_lsp.Lsp). Expected ranges (UTF-16, 0-based) and edits
are written by hand from the vault below."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from qp_harness import Daemon, run_tests  # noqa: E402
from test_lsp import Lsp, err_of  # noqa: E402

S = "See [[Mara]] and [[Mara#Key Facts|k]].\n\U0001F600 [[Mara]] #proj\n"
FILES = {
    ".obsidian/app.json": "{}",
    "People/Mara.md": "# Mara\n\n## Key Facts\n\nfacts\n",
    "s.md": S,
    "t.md": "---\ntags: [proj]\n---\nx\n",
}


def rng(l1, c1, l2, c2):
    return {"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}}


def session(d):
    s = Lsp(env=dict(os.environ, QUIPU_SOCKET=d.socket))
    r = s.request("initialize", {"capabilities": {}, "rootUri": "file://" + d.vault})
    caps = r["result"]["capabilities"]
    assert caps["renameProvider"] == {"prepareProvider": True}, caps
    assert caps["workspace"]["fileOperations"]["willRename"]["filters"][0]["pattern"]["glob"] \
        == "**", caps
    s.notify("initialized")
    s.notify("textDocument/didOpen", {"textDocument": {
        "uri": "file://" + d.abspath("s.md"), "languageId": "markdown", "version": 1,
        "text": S}})
    return s


def edits_by_file(d, we):
    out, renames = {}, []
    for c in we["documentChanges"]:
        if c.get("kind") == "rename":
            renames.append((c["oldUri"], c["newUri"]))
        else:
            rel = c["textDocument"]["uri"][len("file://" + d.vault) + 1:]
            out[rel] = [(e["range"], e["newText"]) for e in c["edits"]]
    return out, renames


def test_rename_link_target():
    with Daemon(files=FILES) as d:
        s = session(d)
        try:
            uri = "file://" + d.abspath("s.md")
            p = s.request("textDocument/prepareRename",
                          {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 7}})
            assert p["result"] == {"range": rng(0, 4, 0, 12), "placeholder": "Mara"}, p
            r = s.request("textDocument/rename", {"textDocument": {"uri": uri},
                                                  "position": {"line": 1, "character": 5},
                                                  "newName": "Mara Lind"})
            files, renames = edits_by_file(d, r["result"])
            # the emoji is two UTF-16 units: [[ at 3, the name at 5..9
            assert files == {"s.md": [(rng(0, 6, 0, 10), "Mara Lind"),
                                      (rng(0, 19, 0, 23), "Mara Lind"),
                                      (rng(1, 5, 1, 9), "Mara Lind")]}, files
            assert renames == [("file://" + d.abspath("People/Mara.md"),
                                "file://" + d.abspath("People/Mara%20Lind.md"))], renames
        finally:
            s.close()


def test_rename_heading_and_tag():
    with Daemon(files=FILES) as d:
        s = session(d)
        try:
            uri = "file://" + d.abspath("s.md")
            # on the link's #Key Facts part: the heading of the target
            p = s.request("textDocument/prepareRename",
                          {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 26}})
            assert p["result"]["placeholder"] == "Key Facts", p
            r = s.request("textDocument/rename", {"textDocument": {"uri": uri},
                                                  "position": {"line": 0, "character": 26},
                                                  "newName": "Facts"})
            files, renames = edits_by_file(d, r["result"])
            assert files == {"People/Mara.md": [(rng(2, 3, 2, 12), "Facts")],
                             "s.md": [(rng(0, 24, 0, 33), "Facts")]}, files
            assert renames == []
            p = s.request("textDocument/prepareRename",
                          {"textDocument": {"uri": uri}, "position": {"line": 1, "character": 14}})
            assert p["result"] == {"range": rng(1, 13, 1, 17), "placeholder": "proj"}, p
            r = s.request("textDocument/rename", {"textDocument": {"uri": uri},
                                                  "position": {"line": 1, "character": 14},
                                                  "newName": "work"})
            files, _ = edits_by_file(d, r["result"])
            assert files == {"s.md": [(rng(1, 13, 1, 17), "work")],
                             "t.md": [(rng(1, 7, 1, 11), "work")]}, files
            # nothing to rename on plain text
            p = s.request("textDocument/prepareRename",
                          {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 1}})
            assert err_of(p) == -32803, p
        finally:
            s.close()


def test_will_rename_files_and_unsaved():
    with Daemon(files=FILES) as d:
        s = session(d)
        try:
            r = s.request("workspace/willRenameFiles", {"files": [{
                "oldUri": "file://" + d.abspath("People/Mara.md"),
                "newUri": "file://" + d.abspath("Team/Mara.md")}]})
            files, renames = edits_by_file(d, r["result"])
            # a bare name still resolves after a move: nothing to edit
            assert files == {} and renames == [], r
            r = s.request("workspace/willRenameFiles", {"files": [{
                "oldUri": "file://" + d.abspath("People/Mara.md"),
                "newUri": "file://" + d.abspath("People/M.md")}]})
            files, renames = edits_by_file(d, r["result"])
            assert sorted(files) == ["s.md"] and len(files["s.md"]) == 3 and renames == [], r
            # an unsaved edit in the open document: refused, with a message
            uri = "file://" + d.abspath("s.md")
            s.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                                "contentChanges": [{"text": "x " + S}]})
            r = s.request("textDocument/rename", {"textDocument": {"uri": uri},
                                                  "position": {"line": 0, "character": 9},
                                                  "newName": "Other"})
            assert err_of(r) == -32803 and "unsaved" in r["error"]["message"], r
        finally:
            s.close()


if __name__ == "__main__":
    run_tests(globals())
