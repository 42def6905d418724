"""The completion, symbol, problem and list methods through a real quipud:
each answers on the socket, is subscribable, and its subscription sends an
update after a file changes on disk (docs/protocol.md, "Completion,
symbols, problems, lists")."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_harness import Daemon, RpcError, quipu_path, run_tests  # noqa: E402

ANN = """---
type: person
aliases: [Annie]
company: Northwind
tags: [type/person]
---
# Ann Veld

## Key Facts

- Leads storage. ^lead

## Recent Context

- 2025-03-02: Mentioned in: Kickoff
- 2025-01-01: Mentioned in: Gone meeting
"""

KICKOFF = """---
type: meeting
title: Kickoff
date: '2025-03-02'
attendees:
- "[[Ann Veld]]"
---
# Kickoff

See [[Ann Veld#Key Facts]] and [[Ann Veld#^lead]].
Also [[Ann Veld#Nope]] and [[Nobody Yet]].
"""

PLAN = """# Plan

## Goals

```tasks
not done
frobnicate
```
"""

FILES = {"People/Ann Veld.md": ANN, "Meetings/2025-03-02 Kickoff.md": KICKOFF,
         "Notes/Plan.md": PLAN}

ANN_PATH = "People/Ann Veld.md"


def subscribe(c, method, params):
    sub = c.request("subscribe", {"method": method, "params": params})
    return sub["subscription"], sub["result"]


def test_completion_follows_files():
    with Daemon(files=FILES) as d:
        c = d.client()
        sid, res = subscribe(c, "complete.notes", {"prefix": "an"})
        assert [(i["label"], i["type"], i["links"]) for i in res["items"]] == [
            ("Ann Veld", "note", 4), ("Annie", "alias", 4)], res
        assert res["incomplete"] is False
        d.write_atomic("People/Anna Berg.md", "# Anna Berg\n")
        up = c.wait_update(sid, lambda r: len(r["items"]) == 3)
        assert [i["label"] for i in up["result"]["items"]] == ["Ann Veld", "Annie", "Anna Berg"]

        sid, res = subscribe(c, "complete.headings", {"note": "Ann Veld", "prefix": "k"})
        assert [i["subpath"] for i in res["items"]] == ["#Key Facts"], res
        d.write_atomic(ANN_PATH, ANN.replace("## Key Facts", "## Key People"))
        up = c.wait_update(sid)
        assert [i["subpath"] for i in up["result"]["items"]] == ["#Key People"], up

        sid, res = subscribe(c, "complete.blocks", {"note": "Ann Veld"})
        assert [(i["id"], i["line"]) for i in res["items"]] == [("lead", 11)], res
        d.write_atomic(ANN_PATH, ANN.replace("^lead", "^boss"))
        up = c.wait_update(sid)
        assert [i["id"] for i in up["result"]["items"]] == ["boss"], up

        sid, res = subscribe(c, "complete.tags", {"prefix": "#type"})
        assert res["items"] == [{"tag": "#type/person", "count": 1, "match": "prefix"}], res
        d.write_atomic("Notes/Tagged.md", "#type/note here\n")
        up = c.wait_update(sid, lambda r: len(r["items"]) == 2)
        assert [i["tag"] for i in up["result"]["items"]] == ["#type/note", "#type/person"]

        sid, res = subscribe(c, "complete.values", {"key": "company"})
        assert [i["value"] for i in res["items"]] == ["Northwind"], res
        d.write_atomic(ANN_PATH, ANN.replace("Northwind", "Fernhill"))
        up = c.wait_update(sid, lambda r: [i["value"] for i in r["items"]] == ["Fernhill"])
        assert up["generation"] > 1


def test_symbols_follow_files():
    with Daemon(files=FILES) as d:
        c = d.client()
        sid, res = subscribe(c, "symbols", {"note": "Plan"})
        assert res["symbols"][0]["name"] == "Plan"
        assert [s["name"] for s in res["symbols"][0]["children"]] == ["Goals"]
        d.write_atomic("Notes/Plan.md", PLAN + "\n## Risks\n")
        up = c.wait_update(sid)
        assert [s["name"] for s in up["result"]["symbols"][0]["children"]] == ["Goals", "Risks"]
        assert up["result"]["symbols"][0]["children"][0]["end_line"] == 9

        sid, res = subscribe(c, "symbols.search", {"query": "risk"})
        assert [(i["name"], i["type"]) for i in res["items"]] == [("Risks", "heading")], res
        d.write_atomic("Notes/Risk register.md", "# Register\n")
        up = c.wait_update(sid, lambda r: len(r["items"]) == 2)
        assert [(i["name"], i["type"]) for i in up["result"]["items"]] == [
            ("Risk register", "note"), ("Risks", "heading")], up


def test_subpath_backlinks_follow_files():
    with Daemon(files=FILES) as d:
        c = d.client()
        sid, res = subscribe(c, "backlinks.subpath", {"note": "Ann Veld", "subpath": "#^lead"})
        assert res["found"] is True and res["line"] == 11
        assert [(s["path"], [o["line"] for o in s["occurrences"]]) for s in res["linked"]] == [
            ("Meetings/2025-03-02 Kickoff.md", [10])], res
        d.write_atomic("Notes/Other.md", "x\n\nsee [[Ann Veld#^lead]]\n")
        up = c.wait_update(sid, lambda r: len(r["linked"]) == 2)
        assert up["result"]["linked"][1]["path"] == "Notes/Other.md"
        assert up["result"]["linked"][1]["occurrences"][0]["line"] == 3
        try:
            c.request("backlinks.subpath", {"note": "Ann Veld", "subpath": "lead"})
            raise AssertionError("a subpath without # was accepted")
        except RpcError as e:
            assert e.code == -32602 and e.kind == "invalid_params", e


def test_problems_follow_files():
    with Daemon(files=FILES) as d:
        c = d.client()
        sid, res = subscribe(c, "problems", {})
        got = sorted((p["path"], p["line"], p["kind"]) for p in res["problems"])
        assert got == [
            ("Meetings/2025-03-02 Kickoff.md", 11, "unresolved_link"),
            ("Meetings/2025-03-02 Kickoff.md", 11, "unresolved_subpath"),
            ("Notes/Plan.md", 7, "tasks_query"),
            (ANN_PATH, 16, "mentions_stale"),
        ], res
        assert res["counts"]["unresolved_link"] == 1 and "next_cursor" not in res
        st = c.request("status")
        assert st["problems"]["unresolved_link"] == 1, st
        assert st["problems"]["tasks_query"] == 1, st

        # The missing note is created: its problem goes, in the same push.
        d.write_atomic("Nobody Yet.md", "# Nobody Yet\n")
        up = c.wait_update(sid, lambda r: r["counts"]["unresolved_link"] == 0)
        assert up["result"]["total"] == 3, up

        nid, res = subscribe(c, "problems", {"note": "Plan"})
        assert [(p["line"], p["block_line"]) for p in res["problems"]] == [(7, 5)], res
        d.write_atomic("Notes/Plan.md", PLAN.replace("frobnicate\n", ""))
        up = c.wait_update(nid)
        assert up["result"]["problems"] == [], up

        uid, res = subscribe(c, "unresolved", {})
        assert res == {"total": 0, "targets": []}, res
        d.write_atomic("Notes/Links.md", "[[Ghost]] and [[ghost.md]] and [[Other]]\n")
        up = c.wait_update(uid, lambda r: r["total"] == 3)
        # grouped by the link path without ".md", case kept; most linked first
        assert [(t["target"], t["count"]) for t in up["result"]["targets"]] == [
            ("Ghost", 1), ("Other", 1), ("ghost", 1)], up
        assert up["result"]["targets"][0]["sources"] == [
            {"path": "Notes/Links.md", "line": 1, "column": 1}], up


def test_list_follows_files():
    with Daemon(files=FILES) as d:
        c = d.client()
        lid, res = subscribe(c, "list", {"kind": "person"})
        assert [n["path"] for n in res["notes"]] == [ANN_PATH] and res["total"] == 1
        d.write_atomic("People/Bo Lind.md", "---\ntype: person\n---\n# Bo Lind\n")
        up = c.wait_update(lid, lambda r: r["total"] == 2)
        assert [n["path"] for n in up["result"]["notes"]] == ["People/Ann Veld.md",
                                                                "People/Bo Lind.md"]
        page = c.request("list", {"kind": "person", "limit": 1})
        assert page["next_cursor"] == "1" and page["total"] == 2
        page = c.request("list", {"kind": "person", "limit": 1, "cursor": page["next_cursor"]})
        assert [n["path"] for n in page["notes"]] == ["People/Bo Lind.md"]
        assert "next_cursor" not in page
        try:
            c.request("list", {"kind": "robot"})
            raise AssertionError("a bad kind was accepted")
        except RpcError as e:
            assert e.code == -32602, e


def cli(d, *args):
    env = dict(os.environ, QUIPU_SOCKET=d.socket, NO_COLOR="1")
    p = subprocess.run([quipu_path()] + list(args), capture_output=True, text=True, env=env,
                       timeout=60)
    return p.returncode, p.stdout, p.stderr


def test_cli_problems_list_explain():
    with Daemon(files=FILES) as d:
        rc, out, err = cli(d, "problems")
        assert rc == 0, (rc, err)
        assert out.splitlines() == [
            "Meetings/2025-03-02 Kickoff.md:11:6: warning: heading not found in "
            "People/Ann Veld.md: #Nope [unresolved_subpath]",
            "Meetings/2025-03-02 Kickoff.md:11:28: warning: unresolved link: Nobody Yet "
            "[unresolved_link]",
            'Notes/Plan.md:7:1: error: do not understand query - Problem line: "frobnicate" '
            "[tasks_query]",
            'People/Ann Veld.md:16:1: warning: stale Recent Context line: no meeting titled '
            '"Gone meeting" mentions this note [mentions_stale]',
        ], out
        # pages are fetched until the last; --limit asks for one
        rc, out, err = cli(d, "--json", "problems", "--kind", "unresolved_link,tasks_query")
        r = json.loads(out)
        assert (r["total"], len(r["problems"])) == (2, 2) and "next_cursor" not in r, r
        rc, out, err = cli(d, "problems", "--limit", "1")
        assert rc == 0 and len(out.splitlines()) == 1, (out, err)
        assert "4 problems, 1 shown" in err, err
        rc, out, err = cli(d, "problems", "Plan")
        assert out.splitlines() == ['Notes/Plan.md:7:1: error: do not understand query - '
                                    'Problem line: "frobnicate" [tasks_query]'], out
        rc, out, err = cli(d, "status")
        assert "problems    1 unresolved_link, 1 unresolved_subpath, 1 tasks_query" in out, out

        c = d.client()
        sid = c.request("subscribe", {"method": "list", "params": {}})["subscription"]
        d.write_atomic("People/Bo Lind.md", "---\ntype: person\ncompany: northwind\n---\n")
        c.wait_update(sid, lambda r: r["total"] == 4)
        rc, out, err = cli(d, "list", "--kind", "person")
        assert (rc, out) == (0, "People/Ann Veld.md\nPeople/Bo Lind.md\n"), (rc, out, err)
        rc, out, err = cli(d, "list", "--property", "company=NORTHWIND", "--sort", "path")
        assert out == "People/Ann Veld.md\nPeople/Bo Lind.md\n", out
        rc, out, err = cli(d, "--json", "list", "--folder", "Notes", "--limit", "1")
        r = json.loads(out)
        assert [n["path"] for n in r["notes"]] == ["Notes/Plan.md"] and r["total"] == 1, r
        rc, out, err = cli(d, "list", "--kind", "robot")
        assert rc == 1 and "param kind" in err, (rc, err)

        rc, out, err = cli(d, "tasks", "not done", "explain")
        assert rc == 0 and out.startswith("not done"), (rc, out, err)
        r = d.client().request("tasks.query", {"query": "not done\nexplain"})
        assert r["explain"].startswith("not done"), r
        assert "explain" not in d.client().request("tasks.query", {"query": "not done"})


if __name__ == "__main__":
    run_tests(globals())
