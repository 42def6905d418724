"""`quipu lsp` driven by the npm vscode-languageserver-protocol client (the
library VS Code's client is built on): a scripted session over every
capability, in UTF-8 positions (test_lsp_nvim.py covers UTF-16), against a
real quipud. test/integration/lsp-client/client.js is the script; the
packages are pinned by its package-lock.json and installed with `npm ci`
into the build tree (QP_BUILD_DIR, else the folder of the quipu under
test: build-test/lsp-client), never into the source tree. Skips (exit 0) only when node or npm is not installed.

The expected values are worked out by hand from the fixture below
(columns are UTF-8 bytes: ë, Å and ö are two bytes each)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from qp_harness import Daemon, quipu_path, run_tests  # noqa: E402

NODE = shutil.which("node")
NPM = shutil.which("npm")
PKG = os.path.join(HERE, "lsp-client")

ZOE = """---
type: person
aliases: [Zoe A]
---

# Zoë Ångström

## Recent Context

## Work

### Details

Built the thing. ^blk-1
"""

HUB = """---
title: Hub
attendees:
- "[[Zoë Ångström]]"
- Zo
tags: [project/alpha]
---

See [[Zoë Ångström]] now.
See ![[Zoë Ångström]] embed.
See [Zoë](../People/Zo%C3%AB%20%C3%85ngstr%C3%B6m.md) md.
See [[Zoë Ångström#Work]] heading.
See [[Zoë Ångström#Work#Details]] nested.
See [[Zoë Ångström#^blk-1]] block.
See [[#Local]] self.
See [[Nowhere]] and [[Zoë Ångström#Nope]].
#project/alpha tag line

## Local

```tasks
not done
```

```tasks
frobnicate
```
"""

SYNC = """---
type: meeting
title: Sync
date: '2025-03-01'
tags: [project/alpha]
---

# Sync

Met Zoë Ångström today.
- [ ] ship it
"""

BROKEN = "---\ntitle: [unclosed\n---\n\n# Broken\n"

FILES = {
    "Notes/Broken.md": BROKEN,
    ".obsidian/app.json": '{"newFileLocation": "folder", "newFileFolderPath": "Inbox"}\n',
    "People/Zoë Ångström.md": ZOE,
    "Notes/Hub.md": HUB,
    "Meetings/2025-03-01 Sync.md": SYNC,
}
Z = "People/Zoë Ångström.md"
H = "Notes/Hub.md"
S = "Meetings/2025-03-01 Sync.md"


def install():
    """npm ci of the pinned client into the build tree; returns its folder."""
    # The build tree is where the quipu under test lives (build-test/quipu).
    base = os.environ.get("QP_BUILD_DIR") or os.path.dirname(os.path.abspath(quipu_path()))
    dest = os.path.join(base, "lsp-client")
    os.makedirs(dest, exist_ok=True)
    for f in ("package.json", "package-lock.json", "client.js"):
        shutil.copy(os.path.join(PKG, f), os.path.join(dest, f))
    stamp = os.path.join(dest, "node_modules", ".package-lock.json")
    with open(os.path.join(PKG, "package-lock.json"), "rb") as f:
        lock = f.read()
    if not os.path.exists(stamp) or open(os.path.join(dest, ".lock-installed"), "rb").read() != lock:
        subprocess.run([NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=dest,
                       check=True, timeout=600)
        with open(os.path.join(dest, ".lock-installed"), "wb") as f:
            f.write(lock)
    return dest


_r = {}


def report():
    if _r:
        return _r
    dest = install()
    with Daemon(files=FILES) as d:
        fd, out = tempfile.mkstemp(prefix="qp-lsp-client-", suffix=".json")
        os.close(fd)
        env = dict(os.environ, QUIPU_SOCKET=d.socket)
        # The completion and symbol methods of docs/protocol.md: whether this
        # quipud has them decides which answers can be checked.
        with d.client() as c:
            m = c.call("complete.notes", {"prefix": "x"})
        _r["methods"] = "error" not in m or m["error"]["code"] != -32601
        try:
            p = subprocess.run([NODE, os.path.join(dest, "client.js"), quipu_path(), d.vault, out],
                               env=env, capture_output=True, text=True, timeout=120)
            with open(out, encoding="utf-8") as f:
                text = f.read()
        finally:
            os.unlink(out)
        _r.update(json.loads(text) if text else {})
        if p.returncode != 0 or _r.get("error") or not text:
            raise AssertionError("client failed (rc %d): %s\nstderr: %s"
                                 % (p.returncode, _r.get("error"), p.stderr))
    print(json.dumps(_r, ensure_ascii=False))
    return _r


def eq(got, want, what):
    assert got == want, "%s:\n got  %s\n want %s" % (
        what, json.dumps(got, ensure_ascii=False), json.dumps(want, ensure_ascii=False))


ZL = [Z, 0, 0, 0, 0]
# Hub.md, UTF-8 columns: "See " is 4 bytes; "[[Zoë Ångström]]" 19 (ë, Å, ö are
# two bytes each); line 3 is `- "[[Zoë Ångström]]"` (inside the quotes: 3..22);
# the Markdown link of line 10 is 50 bytes; line 15 "See [[Nowhere]] and " is 20.
HUB_LINKS = [
    [H, 10, 4, 10, 54], [H, 11, 4, 11, 28], [H, 12, 4, 12, 36], [H, 13, 4, 13, 30],
    [H, 15, 20, 15, 44], [H, 3, 3, 3, 22], [H, 8, 4, 8, 23], [H, 9, 4, 9, 24],
]


def test_initialize():
    r = report()
    eq(r["encoding"], "utf-8", "negotiated encoding")
    eq(r["providers"], ["codeActionProvider", "codeLensProvider", "completionProvider",
                        "definitionProvider", "documentLinkProvider", "documentSymbolProvider",
                        "executeCommandProvider", "foldingRangeProvider", "hoverProvider",
                        "referencesProvider", "renameProvider", "workspaceSymbolProvider"],
       "providers")
    eq(r["exit"], 0, "exit code after shutdown")


def test_definition():
    eq(report()["def"], {
        "wiki": [ZL], "embed": [ZL], "markdown": [ZL], "frontmatter": [ZL],
        "heading": [[Z, 9, 0, 9, 0]],   # ## Work
        "nested": [[Z, 11, 0, 11, 0]],  # #Work#Details: ### Details
        "block": [[Z, 13, 0, 13, 0]],   # ^blk-1
        "self": [[H, 18, 0, 18, 0]],    # [[#Local]]: ## Local of Hub itself
    }, "definitions")


def test_references():
    r = report()["refs"]
    eq(r["link"], HUB_LINKS, "references from a link: its target's backlinks")
    eq(r["note"], HUB_LINKS, "references on the note")
    eq(r["heading"], [[H, 11, 4, 11, 28]], "references on ## Work (not #Work#Details)")
    eq(r["block"], [[H, 13, 4, 13, 30]], "references on ^blk-1")
    # #project/alpha: Hub's body (line 16) and frontmatter "tags: [project/alpha]"
    # (from column 7), and Sync's frontmatter.
    # Other notes come from the daemon's `list`; without it, the open note's own.
    want = [[H, 16, 0, 16, 14], [H, 5, 7, 5, 20]]
    eq(r["tag"], ([[S, 4, 7, 4, 20]] if report()["methods"] else []) + want, "references on a tag")


def test_completion():
    r = report()
    if not r["methods"]:
        print("skip: this quipud has no complete.* methods")
        return
    c = r["complete"]
    # Typed at line 18: "[[zo", "[[Zoë Ångström#Wo", "[[Zoë Ångström#^bl", "#pro".
    eq(c["notes"], {"incomplete": False, "items": [
        ["Zoë Ångström", "Zoë Ångström]]", 2, 4],
        ["Zoe A", "Zoë Ångström|Zoe A]]", 2, 4]]}, "[[ completion")
    eq(c["headings"], {"incomplete": False, "items": [["Work", "Work]]", 18, 20]]},
       "[[Note# completion")
    eq(c["blocks"], {"incomplete": False, "items": [["blk-1", "blk-1]]", 19, 21]]},
       "[[Note#^ completion")
    eq(c["tags"], {"incomplete": False, "items": [["#project/alpha", "#project/alpha", 0, 4]]},
       "# completion")
    # Line 4 "- Zo" under attendees: the key's value; the notes that would
    # insert the same text (by name, by alias) are not offered twice.
    eq(c["frontmatter"], {"incomplete": False, "items": [
        ["[[Zoë Ångström]]", '"[[Zoë Ångström]]"', 2, 4]]}, "frontmatter completion")


def test_hover():
    r = report()
    h = r["hover"]
    assert h["link"].startswith("**Zoë Ångström** · person · `People/Zoë Ångström.md`\n\n"
                                "8 backlinks in 1 note"), h["link"]
    assert "Built the thing. ^blk-1" in h["link"], h["link"]
    assert h["tasks"].startswith("**Tasks query** · 1 task\n\n```\nnot done\n```"), h["tasks"]
    if r["methods"]:
        assert h["tag"].startswith("**#project/alpha** · "), h["tag"]


def test_symbols_links_folds():
    r = report()
    eq(r["symbols"], [["Zoë Ångström", 5, 13, [["Recent Context", 7, 8, []],
                                                ["Work", 9, 13, [["Details", 11, 13, []]]]]]],
       "document symbols")
    if r["methods"]:
        eq(r["wsymbols"], [["Zoë Ångström", 1, Z, 0], ["Zoë Ångström", 15, Z, 5]],
           "workspace symbols for 'ångs'")
    # After the four typed lines: ## Local at 22, the blocks at 24-26 and 28-30.
    eq(r["folds"], [[0, 6], [22, 30], [24, 26], [28, 30]], "folding ranges")
    eq(r["links"], [
        [3, 3, 22, Z], [8, 4, 23, Z], [9, 4, 24, Z], [10, 4, 54, Z],
        [11, 4, 28, Z + "#L10"], [12, 4, 36, Z + "#L12"], [13, 4, 30, Z + "#L14"],
        # [[#Local]]: where ## Local is in the buffer, after the typed lines
        # (line 23; saved, it is on 19).
        [14, 4, 14, H + "#L23"], [15, 20, 44, Z]], "document links")


def test_diagnostics():
    r = report()
    # frobnicate is query line 1 of the block whose fence is line 28 (after the
    # typed lines); [[Nowhere]] 4..15; [[Zoë Ångström#Nope]] 20..44.
    eq(r["diags"], [["tasks-query", 29, 0, 10, 1], ["unresolved-link", 15, 4, 15, 2],
                    ["unresolved-subpath", 15, 20, 44, 2]], "diagnostics of Hub")
    # libyaml reports the unclosed "[" where the document ends: the fence line.
    eq(r["broken"], [["note", 2, 1]], "invalid frontmatter at its line")
    assert r["steps"]["clear_ms"] < 2000, r["steps"]


def test_lenses_and_commands():
    r = report()
    eq(r["lenses"], [[0, "1 backlink · 1 unlinked", "quipu.backlinks"],
                     [0, "1 meeting · 1 missing from Recent Context", "quipu.mentions"]],
       "person lenses")
    eq(r["hub_lenses"], [[0, "0 backlinks · 0 unlinked", "quipu.backlinks"],
                         [24, "1 task", "quipu.tasks"], [28, "Tasks query error", "quipu.tasks"]],
       "Hub lenses")
    c = r["commands"]
    eq(c["quipu.backlinks"], HUB_LINKS, "quipu.backlinks")
    # Sync line 9 "Met Zoë Ångström today.": the name at bytes 4..19.
    eq(c["quipu.unlinked"], [[S, 9, 4, 9, 19]], "quipu.unlinked")
    eq(c["quipu.mentions"], [[S, 9, 4, 9, 19]], "quipu.mentions")
    eq(c["quipu.tasks"], [[S, 10, 0, 10, 13]], "quipu.tasks")


def test_code_actions():
    r = report()
    eq(r["actions"], [["Create note Inbox/Nowhere.md",
                       '[{"kind":"create","uri":"VAULT/Inbox/Nowhere.md","options":'
                       '{"ignoreIfExists":true}},{"textDocument":{"uri":"VAULT/Inbox/Nowhere.md",'
                       '"version":null},"edits":[{"range":{"start":{"line":0,"character":0},'
                       '"end":{"line":0,"character":0}},"newText":"# Nowhere\\n"}]}]']],
       "create the missing note in newFileFolderPath")
    if r["methods"]:
        eq(r["link_actions"], [['Link "Zoë Ångström" to People/Zoë Ångström.md',
                                '[{"range":{"start":{"line":9,"character":4},"end":{"line":9,'
                                '"character":19}},"newText":"[[Zoë Ångström]]"}]']],
           "link the unlinked mention")


if __name__ == "__main__":
    if NODE is None or NPM is None:
        print("skip: node/npm not installed")
        sys.exit(0)
    run_tests(globals())
