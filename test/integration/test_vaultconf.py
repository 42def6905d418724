"""quipud and the vault's own settings (issue 16): the Tasks plugin's
data.json applies to tasks.query and tasks.blocks with no client settings,
a client's settings override it, and changes to data.json and
.obsidian/app.json reach subscribers without a restart. Excluded files
(userIgnoreFilters) stay link sources but leave unlinked mentions."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qp_harness import Daemon, run_tests  # noqa: E402

TASKS_JSON = ".obsidian/plugins/obsidian-tasks-plugin/data.json"


def plugin_settings(global_filter, custom=None):
    """data.json as the Tasks plugin (8.x) saves it, trimmed to what matters."""
    return json.dumps({
        "presets": {"this_file": "path includes {{query.file.path}}"},
        "globalQuery": "",
        "globalFilter": global_filter,
        "removeGlobalFilter": True,
        "taskFormat": "tasksPluginEmoji",
        "setDoneDate": True,
        "statusSettings": {
            "coreStatuses": [
                {"symbol": " ", "name": "Todo", "nextStatusSymbol": "x",
                 "availableAsCommand": True, "type": "TODO"},
                {"symbol": "x", "name": "Done", "nextStatusSymbol": " ",
                 "availableAsCommand": True, "type": "DONE"},
            ],
            "customStatuses": custom if custom is not None else [
                {"symbol": "/", "name": "In Progress", "nextStatusSymbol": "x",
                 "availableAsCommand": True, "type": "IN_PROGRESS"},
                {"symbol": "-", "name": "Cancelled", "nextStatusSymbol": " ",
                 "availableAsCommand": True, "type": "CANCELLED"},
            ],
        },
        "debugSettings": {"ignoreSortInstructions": False},
    }, indent=2)


FILES = {
    # the comment block is the case: Obsidian lists no list items in
    # it, so the plugin shows no task from it
    "Todo.md": "- [ ] #task write it\n- [ ] plain item\n- [w] #task waiting\n"
               "```tasks\nnot done\n```\n"
               "%%\n- [ ] #task I look like a task but am in a comment\n%%\n",
    TASKS_JSON: plugin_settings("#task"),
}


def descriptions(result):
    return [t["description"] for g in result["groups"] for t in g["tasks"]]


def test_tasks_settings_from_the_vault():
    with Daemon(files=FILES) as d:
        c = d.client()
        r = c.request("tasks.query", {"query": "not done"})
        # only lines with the global filter are tasks; it is removed from the
        # shown description (removeGlobalFilter); [w] is unknown: a TODO
        assert descriptions(r) == ["write it", "waiting"], r
        blocks = c.request("tasks.blocks", {"note": "Todo.md"})
        assert descriptions(blocks[0]["result"]) == ["write it", "waiting"], blocks
        # a client's settings are put over the vault's, key by key
        r = c.request("tasks.query", {"query": "not done", "settings": {"globalFilter": ""}})
        assert descriptions(r) == ["#task write it", "plain item", "#task waiting"], r
        r = c.request("tasks.query", {
            "query": "not done",
            "settings": {"statuses": [["w", "Waiting", "x", "DONE"]]}})
        assert descriptions(r) == ["write it"], r


def test_tasks_settings_change_reaches_subscribers():
    with Daemon(files=FILES) as d:
        c = d.client()
        sub = c.request("subscribe", {"method": "tasks.query", "params": {"query": "not done"}})
        assert descriptions(sub["result"]) == ["write it", "waiting"]
        # the user makes [w] a DONE status in the plugin's settings
        d.write_atomic(TASKS_JSON, plugin_settings("#task", [
            {"symbol": "w", "name": "Waiting", "nextStatusSymbol": "x",
             "availableAsCommand": False, "type": "DONE"}]))
        u = c.wait_update(sub["subscription"], lambda r: descriptions(r) == ["write it"])
        assert u["result"]["total"] == 1
        # the global filter goes away: every checkbox line is a task
        d.write(TASKS_JSON, plugin_settings("", [
            {"symbol": "w", "name": "Waiting", "nextStatusSymbol": "x",
             "availableAsCommand": False, "type": "DONE"}]))
        c.wait_update(sub["subscription"],
                      lambda r: descriptions(r) == ["#task write it", "plain item"])
        # a broken file is the plugin's defaults, and the daemon keeps serving
        d.write(TASKS_JSON, "{ not json")
        c.wait_update(sub["subscription"],
                      lambda r: descriptions(r) == ["#task write it", "plain item",
                                                    "#task waiting"])
        # The write is in place: the daemon may read the empty file first
        # (the defaults, with nothing to report), so the report can follow
        # the update above by a moment.
        deadline = time.monotonic() + 30
        while "data.json" not in d.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "data.json" in d.stderr()
        assert c.request("status")["files"] >= 1


def test_excluded_files_and_app_json_changes():
    files = {
        "Target.md": "# Target\n",
        "Archive/Old.md": "[[Target]] and Target again\n",
        "Notes/N.md": "Target, not linked\n",
    }
    with Daemon(files=files) as d:
        c = d.client()
        sub = c.request("subscribe", {"method": "backlinks",
                                      "params": {"note": "Target.md", "unlinked": True}})
        paths = lambda r, k: [s["path"] for s in r[k]]  # noqa: E731
        assert paths(sub["result"], "linked") == ["Archive/Old.md"]
        assert paths(sub["result"], "unlinked") == ["Notes/N.md"]
        # excluding Notes/ hides it from unlinked mentions, at once
        d.write(".obsidian/app.json", json.dumps({"userIgnoreFilters": ["Notes/", "Archive/"]}))
        u = c.wait_update(sub["subscription"], lambda r: paths(r, "unlinked") == [])
        # an excluded file is still a link source
        assert paths(u["result"], "linked") == ["Archive/Old.md"]
        # files written under an excluded folder are indexed and watched
        d.write("Archive/New.md", "[[Target]]\n")
        c.wait_update(sub["subscription"],
                      lambda r: paths(r, "linked") == ["Archive/New.md", "Archive/Old.md"])
        # ... but they are no link suggestions, as in Obsidian
        names = [i["path"] for i in c.request("complete.notes", {"prefix": ""})["items"]]
        assert sorted(names) == ["Target.md"], names
        names = [i["path"] for i in c.request("complete.notes", {"prefix": "ol"})["items"]]
        assert names == [], names
        # the filter removed again: the mention is back
        os.remove(d.abspath(".obsidian/app.json"))
        c.wait_update(sub["subscription"], lambda r: paths(r, "unlinked") == ["Notes/N.md"])


if __name__ == "__main__":
    run_tests(globals())
