"""Full-text search through a real quipud: the `search` method, a
subscription to a saved search that follows edits, renames and deletes on
disk, query errors that keep the connection, and `quipu search` (places and
--json). Expected values are worked out by hand from the vault below."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_harness import Daemon, RpcError, quipu_path, run_tests  # noqa: E402

FILES = {
    "Notes/Kiln.md": "# Kiln\n\nThe kiln reached cone six.\nGlaze tests next week.\n",
    "Notes/Wheel.md": "---\naliases: [Potter's wheel]\n---\n# Wheel\n\nCentering clay on the wheel.\n",
    "Journal/2025-01-02.md": "# Thursday\n\n- [ ] buy clay #studio\n- [x] fire the kiln\n",
    ".obsidian/app.json": "{}",
}


def paths(result):
    return [r["path"] for r in result["results"]]


def test_search_method():
    with Daemon(files=FILES) as d, d.client() as c:
        r = c.request("search", {"query": "kiln", "prefix": False})
        # The note named Kiln first (title weight), then the task line.
        assert paths(r) == ["Notes/Kiln.md", "Journal/2025-01-02.md"], r
        assert r["total"] == 2 and r["next_cursor"] is None
        m = r["results"][0]["matches"]
        assert [(x["line"], x["column"]) for x in m] == [(1, 3), (3, 5)], m
        assert m[1]["text"] == "The kiln reached cone six."
        assert m[1]["hits"] == [{"column": 5, "length": 4}]
        # Search as you type: the last word is a prefix.
        assert paths(c.request("search", {"query": "glaz"})) == ["Notes/Kiln.md"]
        assert paths(c.request("search", {"query": "glaz", "prefix": False})) == []
        assert paths(c.request("search", {"query": "potter"})) == ["Notes/Wheel.md"]
        assert paths(c.request("search", {"query": "task-todo:clay"})) == ["Journal/2025-01-02.md"]
        assert paths(c.request("search", {"query": "clay -tag:studio"})) == ["Notes/Wheel.md"]
        r = c.request("search", {"query": "clay OR kiln", "limit": 2})
        assert r["total"] == 3 and len(r["results"]) == 2 and r["next_cursor"] == "2", r
        r2 = c.request("search", {"query": "clay OR kiln", "limit": 2, "cursor": "2"})
        assert len(r2["results"]) == 1 and r2["next_cursor"] is None
        assert set(paths(r) + paths(r2)) == set(FILES) - {".obsidian/app.json"}

        # Errors: the connection keeps serving.
        try:
            c.request("search", {"query": "line:(kiln"})
            raise AssertionError("no error")
        except RpcError as e:
            assert e.code == -32002 and e.kind == "query_error", e.error
            assert e.error["data"]["column"] == 6, e.error
        try:
            c.request("search", {"query": ["kiln"]})
            raise AssertionError("no error")
        except RpcError as e:
            assert e.code == -32602, e.error
        assert c.request("search", {"query": "wheel"})["total"] == 1


def test_saved_search_follows_the_disk():
    with Daemon(files=FILES) as d, d.client(timeout=15) as c:
        sub = c.request("subscribe", {"method": "search",
                                      "params": {"query": "glaze", "prefix": False}})
        s = sub["subscription"]
        assert paths(sub["result"]) == ["Notes/Kiln.md"]
        # A new note that matches.
        d.write("Notes/Glazes.md", "# Glazes\n\nCeladon glaze, tenmoku glaze.\n")
        u = c.wait_update(s, lambda r: len(r["results"]) == 2)
        assert sorted(paths(u["result"])) == ["Notes/Glazes.md", "Notes/Kiln.md"], u
        # An edit that removes the word: its old words must not match any more.
        d.write_atomic("Notes/Kiln.md", "# Kiln\n\nThe kiln cooled overnight.\n")
        u = c.wait_update(s, lambda r: paths(r) == ["Notes/Glazes.md"])
        # A rename moves the result; a delete drops it.
        d.rename("Notes/Glazes.md", "Notes/Celadon.md")
        u = c.wait_update(s, lambda r: paths(r) == ["Notes/Celadon.md"])
        assert u["result"]["results"][0]["matches"][0]["line"] == 3
        d.remove("Notes/Celadon.md")
        u = c.wait_update(s, lambda r: r["total"] == 0)
        assert u["result"]["results"] == []


def test_cli():
    with Daemon(files=FILES) as d:
        env = dict(os.environ, QUIPU_SOCKET=d.socket)
        run = lambda *a: subprocess.run([quipu_path(), *a], env=env, cwd=d.vault,  # noqa: E731
                                        capture_output=True, text=True, timeout=30)
        p = run("search", "cone", "six")
        assert p.returncode == 0, p.stderr
        assert p.stdout == "Notes/Kiln.md:3:18: The kiln reached cone six.\n", p.stdout
        p = run("search", "--json", "kiln", "--limit", "1")
        assert p.returncode == 0, p.stderr
        r = json.loads(p.stdout)
        assert r["total"] == 2 and paths(r) == ["Notes/Kiln.md"] and r["next_cursor"] == "1"
        p = run("search", "kiln", "--limit", "1")
        assert "(1 of 2 notes; --all or --limit N for more)" in p.stdout, p.stdout
        p = run("search", "kiln", "--limit", "1", "--all")
        assert p.stdout.count("Journal/2025-01-02.md:4:16: - [x] fire the kiln") == 1, p.stdout
        p = run("search", "(kiln")
        assert p.returncode == 1 and "quipu: query: column 1: ( without )" in p.stderr, p.stderr
        p = run("search")
        assert p.returncode == 2, p.stderr


if __name__ == "__main__":
    run_tests(globals())
