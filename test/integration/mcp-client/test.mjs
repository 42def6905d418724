// Drives `quipu mcp` with the official MCP TypeScript SDK client over stdio.
// Run by test/integration/test_mcp.py, which makes the vault (VAULT below),
// starts its quipud (QUIPU_SOCKET) and passes MODE "read" or "write".
// Every expectation is written out by hand from that vault. The SDK checks
// each structuredContent against the tool's outputSchema, so a result that
// does not match its schema fails the call.
import assert from "node:assert/strict";
import {
  appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync,
  unlinkSync, writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { pathToFileURL } from "node:url";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const { QUIPU, VAULT, MODE } = process.env;
const write = MODE === "write";
const report = { mode: MODE, checks: [] };

function uriOf(rel) {
  return pathToFileURL(VAULT + "/" + rel).href;
}

async function check(name, fn) {
  const t0 = performance.now();
  await fn();
  report.checks.push({ name, ms: Math.round(performance.now() - t0) });
}

const transport = new StdioClientTransport({
  command: QUIPU,
  args: ["mcp", ...(write ? ["--allow-write"] : [])],
  env: { ...process.env },
  stderr: "inherit",
});
const client = new Client({ name: "quipu-test", version: "1.0.0" });
await client.connect(transport);

const call = (name, args) => client.callTool({ name, arguments: args });
const lineOf = (rel, n) => readFileSync(VAULT + "/" + rel, "utf8").split("\n")[n - 1];
// Every file of the vault (but .obsidian) with its text.
function vaultFiles() {
  const out = {};
  for (const e of readdirSync(VAULT, { recursive: true, withFileTypes: true })) {
    const rel = (e.parentPath ?? e.path).slice(VAULT.length + 1) + "/" + e.name;
    if (e.isFile() && !rel.startsWith(".obsidian"))
      out[rel.replace(/^\//, "")] = readFileSync(VAULT + "/" + rel, "utf8");
  }
  return out;
}
const text = (r) => r.content.map((c) => c.text).join("\n");
function ok(r) {
  assert.ok(!r.isError, "tool error: " + text(r));
  return r.structuredContent;
}
function fails(r, what) {
  assert.equal(r.isError, true, "expected an error, got " + JSON.stringify(r.structuredContent));
  assert.ok(text(r).includes(what), `error "${text(r)}" does not say "${what}"`);
}

await check("initialize", async () => {
  assert.equal(client.getServerVersion().name, "quipu");
  const caps = client.getServerCapabilities();
  assert.ok(caps.tools, "tools capability");
  assert.equal(caps.resources.subscribe, true);
  assert.ok(client.getInstructions().includes("file://"));
});

await check("tools/list", async () => {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  const reads = ["search", "read_note", "backlinks", "mentions", "tasks", "list_notes",
    "unresolved_links", "status"];
  const writes = ["create_note", "append_to_note", "add_mentions", "rename_note"];
  assert.deepEqual(names, write ? [...reads, ...writes] : reads);
  for (const t of tools) {
    assert.equal(t.inputSchema.type, "object", t.name);
    assert.equal(t.outputSchema.type, "object", t.name);
    assert.ok(t.description.length > 80, t.name + " has a description for a model");
    assert.equal(t.annotations.readOnlyHint, !writes.includes(t.name));
    // Only rename_note rewrites text it did not add (other notes' links).
    assert.equal(t.annotations.destructiveHint, t.name === "rename_note", t.name);
  }
});

await check("search syntax", async () => {
  // The search tool's description lists the syntax as docs/search.md does:
  // every example of the first column of its "Query syntax" table.
  const doc = readFileSync(process.env.SEARCH_DOC, "utf8");
  const table = doc.slice(doc.indexOf("## Query syntax"));
  const rows = table.split("\n").filter((l) => l.startsWith("| `"));
  const examples = rows.flatMap((l) => [...l.split(" | ")[0].matchAll(/`([^`]+)`/g)].map((x) => x[1]));
  assert.ok(examples.length >= 20 && examples.includes("task:deck"), examples.join(" "));
  const { tools } = await client.listTools();
  const d = tools.find((t) => t.name === "search").description;
  for (const x of examples)
    assert.ok(d.includes(x), `search's description lacks ${x}: ${d}`);
});

await check("status", async () => {
  const s = ok(await call("status", {}));
  assert.equal(s.state, "ready");
  assert.equal(s.writable, write);
  assert.equal(s.notes.person, 1);
  assert.equal(s.notes.meeting, 2);
  // It takes no arguments, and says so.
  fails(await call("status", { verbose: true }),
    'unknown argument "verbose"; this tool takes: no arguments');
  assert.equal(ok(await call("status", {})).state, "ready");
});

await check("search", async () => {
  const s = ok(await call("search", { query: "roadmap" }));
  assert.deepEqual(s.results.map((r) => r.path), ["Meetings/Roadmap sync.md", "People/Ann Lee.md"]);
  assert.equal(s.results[0].matches[0].line, 3);
  const page = ok(await call("search", { query: "ann", limit: 1 }));
  assert.equal(page.results.length, 1);
  assert.equal(typeof page.next_cursor, "string");
  const rest = ok(await call("search", { query: "ann", limit: 10, cursor: page.next_cursor }));
  assert.equal(page.total, 1 + rest.results.length);
  fails(await call("search", {}), 'missing argument "query"');
  fails(await call("search", { query: 5 }), 'argument "query" must be a string');
  fails(await call("search", { query: "(roadmap" }), "( without )");
  fails(await call("search", { query: "x", limit: 0 }), 'argument "limit" must be an integer');
});

await check("read_note", async () => {
  const n = ok(await call("read_note", { note: "Ann Lee" }));
  assert.equal(n.path, "People/Ann Lee.md");
  assert.equal(n.kind, "person");
  assert.equal(n.text, readFileSync(VAULT + "/People/Ann Lee.md", "utf8"));
  assert.match(n.version, /^[0-9a-f]{16}$/);
  assert.deepEqual(n.aliases, ["Annie"]);
  assert.equal(n.uri, uriOf("People/Ann Lee.md"));
  // By alias, by path, in parts.
  assert.equal(ok(await call("read_note", { note: "annie" })).path, "People/Ann Lee.md");
  assert.equal(ok(await call("read_note", { note: "Meetings/Roadmap sync.md" })).kind, "meeting");
  const part = ok(await call("read_note", { note: "Ann Lee", max_bytes: 10 }));
  assert.equal(part.text, "---\ntype: ");
  assert.equal(part.next_offset, 10);
  const links = ok(await call("read_note", { note: "Ideas" })).links;
  assert.deepEqual(links.map((l) => [l.target, l.path]),
    [["Ann Lee", "People/Ann Lee.md"], ["Missing Page", null]]);
  fails(await call("read_note", { note: "Ann Leee" }),
    'no note named "Ann Leee"; did you mean "People/Ann Lee.md"');
  fails(await call("read_note", { note: "../../etc/passwd" }), 'no note named "../../etc/passwd"');
  fails(await call("read_note", { note: "Ann Lee", bogus: 1 }), 'unknown argument "bogus"');
});

await check("backlinks", async () => {
  const b = ok(await call("backlinks", { note: "Ann Lee", unlinked: true }));
  assert.deepEqual(b.linked.map((s) => s.path), ["Ideas.md", "Meetings/Roadmap sync.md"]);
  assert.deepEqual(b.unlinked.map((s) => s.path), ["Meetings/Hiring.md"]);
  assert.equal(b.total_linked, 2);
  assert.equal(b.linked[1].occurrences[0].line, 9);
  const p = ok(await call("backlinks", { note: "Ann Lee", limit: 1 }));
  assert.equal(p.linked.length, 1);
  assert.equal(p.total_linked, 2);
  assert.equal(typeof p.next_cursor, "string");
  assert.equal(p.unlinked, undefined);
  const p2 = ok(await call("backlinks", { note: "Ann Lee", limit: 1, cursor: p.next_cursor }));
  assert.deepEqual(p2.linked.map((s) => s.path), ["Meetings/Roadmap sync.md"]);
  assert.equal(p2.next_cursor, null);
  fails(await call("backlinks", { note: "Ann Lee", cursor: "x" }), "not a cursor");
  fails(await call("backlinks", { note: "Nobody At All" }), 'no note named "Nobody At All"');
});

await check("mentions", async () => {
  const m = ok(await call("mentions", { note: "Ann Lee" }));
  assert.deepEqual(m.mentioned_in.map((s) => s.path), ["Meetings/Roadmap sync.md", "Meetings/Hiring.md"]);
  assert.deepEqual(m.missing, ["Meetings/Hiring.md"]);
  assert.deepEqual(m.stale.map((s) => s.title), ["Old offsite"]);
  // Invalid arguments: a tool error that names the argument, or the note.
  fails(await call("mentions", {}), 'missing argument "note"');
  fails(await call("mentions", { note: 5 }), 'argument "note" must be a string');
  fails(await call("mentions", { note: "Ann Lee", limit: 0 }),
    'argument "limit" must be an integer from 1 to 500');
  fails(await call("mentions", { note: "Ann Lee", limit: "10" }),
    'argument "limit" must be an integer from 1 to 500');
  fails(await call("mentions", { note: "Ann Lee", cursor: "x" }), "not a cursor");
  fails(await call("mentions", { note: "Ann Lee", unlinked: true }),
    'unknown argument "unlinked"; this tool takes: note, limit, max_occurrences, cursor');
  fails(await call("mentions", { note: "Ann Leee" }),
    'no note named "Ann Leee"; did you mean "People/Ann Lee.md"');
  assert.equal(ok(await call("mentions", { note: "Annie" })).path, "People/Ann Lee.md");
});

await check("tasks", async () => {
  const t = ok(await call("tasks", { query: "not done\nsort by due", today: "2025-03-01" }));
  assert.deepEqual(t.groups[0].tasks.map((x) => x.description),
    ["Write the job post", "Send the deck to [[Ann Lee]]"]);
  const g = ok(await call("tasks", { query: "group by filename", limit: 2 }));
  assert.equal(g.total, 3);
  assert.equal(g.returned, 2);
  assert.equal(typeof g.next_cursor, "string");
  const g2 = ok(await call("tasks", { query: "group by filename", limit: 2, cursor: g.next_cursor }));
  assert.equal(g2.returned, 1);
  assert.equal(g2.next_cursor, null);
  fails(await call("tasks", { query: "not done\nfrobnicate" }), "line 2");
  fails(await call("tasks", { query: "not done", today: "March" }), "YYYY-MM-DD");
});

await check("list_notes", async () => {
  const l = ok(await call("list_notes", {}));
  assert.equal(l.total, 4);
  assert.deepEqual(l.notes.map((n) => n.path),
    ["Ideas.md", "Meetings/Hiring.md", "Meetings/Roadmap sync.md", "People/Ann Lee.md"]);
  const f = ok(await call("list_notes", { folder: "Meetings", limit: 1 }));
  assert.equal(f.total, 2);
  assert.equal(f.notes.length, 1);
  assert.equal(typeof f.next_cursor, "string");
  // Invalid arguments: each named, with what it may be.
  fails(await call("list_notes", { kind: "robot" }),
    'argument "kind" must be one of: person, meeting, note (not "robot")');
  fails(await call("list_notes", { sort: "size" }),
    'argument "sort" must be one of: path, modified, date, title (not "size")');
  fails(await call("list_notes", { value: "draft" }),
    'argument "value" needs argument "property"');
  fails(await call("list_notes", { folder: 5 }), 'argument "folder" must be a string');
  fails(await call("list_notes", { limit: 1001 }), 'argument "limit" must be an integer from 1 to 1000');
  fails(await call("list_notes", { cursor: "x" }), "cursor");
  fails(await call("list_notes", { path: "People" }),
    'unknown argument "path"; this tool takes: folder, tag, property, value, kind, sort, limit, cursor');
  assert.equal(ok(await call("list_notes", { kind: "person" })).total, 1);
});

await check("unresolved_links", async () => {
  const r = await call("unresolved_links", {});
  if (r.isError) {
    // A quipud without the `unresolved` method says so instead of guessing.
    assert.ok(text(r).includes("update quipu"), text(r));
  } else {
    assert.deepEqual(r.structuredContent.targets.map((t) => t.target), ["Missing Page"]);
  }
});

await check("unknown tool", async () => {
  await assert.rejects(call("no_such_tool", {}), (e) => e.code === -32602);
  if (!write) {
    fails(await call("create_note", { path: "x.md", text: "x" }), "read-only");
    const before = vaultFiles();
    fails(await call("rename_note", { from: "Ann Lee", to: "Ann Smith" }), "read-only");
    assert.deepEqual(vaultFiles(), before, "nothing renamed");
  }
});

await check("resources", async () => {
  const { resources } = await client.listResources();
  assert.equal(resources.length, 4);
  const ann = resources.find((r) => r.name === "People/Ann Lee.md");
  assert.equal(ann.uri, uriOf("People/Ann Lee.md"));
  assert.equal(ann.mimeType, "text/markdown");
  const r = await client.readResource({ uri: ann.uri });
  assert.equal(r.contents[0].text, readFileSync(VAULT + "/People/Ann Lee.md", "utf8"));
  await assert.rejects(client.readResource({ uri: "file:///etc/passwd" }), (e) => e.code === -32002);
  await assert.rejects(client.readResource({ uri: pathToFileURL(VAULT).href + "/../outside.md" }),
    (e) => e.code === -32002);
});

if (!write) {
  await check("subscribe", async () => {
    const uri = uriOf("Meetings/Hiring.md");
    const got = [];
    let wake;
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      got.push({ uri: n.params.uri, at: performance.now() });
      if (wake) wake();
    });
    await client.subscribeResource({ uri });
    const t0 = performance.now();
    appendFileSync(VAULT + "/Meetings/Hiring.md", "Ann Lee asked about the budget.\n");
    await new Promise((resolve, reject) => {
      wake = resolve;
      if (got.length) resolve();
      setTimeout(() => reject(new Error("no notifications/resources/updated within 5 s")), 5000);
    });
    assert.equal(got[0].uri, uri);
    report.update_ms = Math.round(got[0].at - t0);
    const r = await client.readResource({ uri });
    assert.ok(r.contents[0].text.endsWith("Ann Lee asked about the budget.\n"));
    await client.unsubscribeResource({ uri });
  });

  await check("max_occurrences", async () => {
    // A meeting that links Ann Lee 25 times: 20 occurrences kept by default.
    const lines = Array.from({ length: 25 }, (_, i) => `- item ${i + 1} for [[Ann Lee]]`);
    writeFileSync(VAULT + "/Meetings/Standup.md",
      "---\ntype: meeting\ntitle: Standup\ndate: '2025-03-20'\n---\n\n" + lines.join("\n") + "\n");
    const standup = (r) => r.linked?.find((s) => s.path === "Meetings/Standup.md") ??
      r.mentioned_in?.find((s) => s.path === "Meetings/Standup.md");
    for (let t0 = performance.now(); !standup(ok(await call("backlinks", { note: "Ann Lee" })));) {
      assert.ok(performance.now() - t0 < 5000, "Standup.md indexed within 5 s");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const { tools } = await client.listTools();
    for (const name of ["backlinks", "mentions"]) {
      const t = tools.find((x) => x.name === name);
      assert.deepEqual(t.inputSchema.properties.max_occurrences,
        { type: "integer", minimum: 1, maximum: 1000, default: 20 }, name);
      assert.ok(t.description.includes("more_occurrences"), name);
      const count = (r) => [standup(r).occurrences.length, standup(r).more_occurrences ?? 0];
      assert.deepEqual(count(ok(await call(name, { note: "Ann Lee" }))), [20, 5], name);
      assert.deepEqual(count(ok(await call(name, { note: "Ann Lee", max_occurrences: 3 }))),
        [3, 22], name);
      const all = ok(await call(name, { note: "Ann Lee", max_occurrences: 1000 }));
      assert.deepEqual(count(all), [25, 0], name);
      assert.deepEqual(standup(all).occurrences.map((o) => o.line), lines.map((_, i) => i + 7));
      for (const bad of [0, 1001, -1, 2.5, "5", false]) {
        fails(await call(name, { note: "Ann Lee", max_occurrences: bad }),
          'argument "max_occurrences" must be an integer from 1 to 1000');
      }
    }
  });
} else {
  await check("create_note", async () => {
    const c = ok(await call("create_note", { path: "Inbox/New idea.md", text: "# New idea\n" }));
    assert.equal(c.path, "Inbox/New idea.md");
    assert.equal(readFileSync(VAULT + "/Inbox/New idea.md", "utf8"), "# New idea\n");
    // It is a note of the index at once: read_note finds it by name.
    assert.equal(ok(await call("read_note", { note: "New idea" })).version, c.version);
    fails(await call("create_note", { path: "Inbox/New idea.md", text: "again" }), "already exists");
    for (const bad of ["../escape.md", "/tmp/abs.md", "a/../../b.md", ".obsidian/x.md", "x.txt"]) {
      fails(await call("create_note", { path: bad, text: "x" }), "path");
      assert.ok(!existsSync(VAULT + "/../escape.md"));
    }
    fails(await call("create_note", { path: "big.md", text: "x".repeat(9 << 20) }), "too long");
    // Links resolve case-insensitively, so a name that differs only in case
    // is taken (and is the same file on a case-insensitive disk).
    const files = vaultFiles();
    fails(await call("create_note", { path: "Inbox/new IDEA.md", text: "x" }),
      "Inbox/New idea.md already exists (names differ only in case): nothing written");
    fails(await call("create_note", { path: "inbox/New idea.md", text: "x" }),
      "Inbox/New idea.md already exists (names differ only in case): nothing written");
    fails(await call("create_note", { path: "INBOX/Other idea.md", text: "x" }),
      "Inbox/ already exists (names differ only in case): nothing written");
    fails(await call("create_note", { path: "people/ann lee.md", text: "x" }),
      "People/Ann Lee.md already exists (names differ only in case)");
    assert.deepEqual(vaultFiles(), files, "nothing written");
    assert.ok(!existsSync(VAULT + "/inbox") && !existsSync(VAULT + "/INBOX"), "no folder made");
    ok(await call("create_note", { path: "Inbox/Other idea.md", text: "x" }));
    unlinkSync(VAULT + "/Inbox/Other idea.md");
  });

  await check("append_to_note", async () => {
    const a = ok(await call("append_to_note", { note: "New idea", text: "more" }));
    assert.equal(readFileSync(VAULT + "/Inbox/New idea.md", "utf8"), "# New idea\nmore\n");
    // A stale version is refused and nothing is written.
    writeFileSync(VAULT + "/Inbox/New idea.md", "# New idea\nedited in the editor\n");
    fails(await call("append_to_note", { note: "New idea", text: "late", version: a.version }),
      "changed since you read it");
    assert.equal(readFileSync(VAULT + "/Inbox/New idea.md", "utf8"), "# New idea\nedited in the editor\n");
    const v = ok(await call("read_note", { note: "Inbox/New idea.md" })).version;
    ok(await call("append_to_note", { note: "Inbox/New idea.md", text: "fresh\n", version: v }));
    assert.equal(readFileSync(VAULT + "/Inbox/New idea.md", "utf8"),
      "# New idea\nedited in the editor\nfresh\n");
  });

  await check("add_mentions", async () => {
    // Invalid arguments: refused, nothing written.
    const before = vaultFiles();
    fails(await call("add_mentions", {}), 'missing argument "note"');
    fails(await call("add_mentions", { note: 5 }), 'argument "note" must be a string');
    fails(await call("add_mentions", { note: "Ann Leee" }),
      'no note named "Ann Leee"; did you mean "People/Ann Lee.md"');
    fails(await call("add_mentions", { note: "Ann Lee", version: "zzz" }),
      'argument "version" must be the version read_note gave (16 hex digits), not "zzz"');
    fails(await call("add_mentions", { note: "Ann Lee", version: 7 }),
      'argument "version" must be a string');
    fails(await call("add_mentions", { note: "Ann Lee", version: "0123456789abcdef" }),
      "People/Ann Lee.md changed since you read it (version 0123456789abcdef");
    fails(await call("add_mentions", { note: "Ann Lee", dry_run: true }),
      'unknown argument "dry_run"; this tool takes: note, version');
    assert.deepEqual(vaultFiles(), before, "nothing written by the refusals");
    const version = ok(await call("read_note", { note: "Ann Lee" })).version;
    const r = ok(await call("add_mentions", { note: "Ann Lee", version: version.toUpperCase() }));
    assert.deepEqual(r.added.map((x) => x.title), ["Hiring"]);
    const t = readFileSync(VAULT + "/People/Ann Lee.md", "utf8");
    assert.ok(t.includes("## Recent Context\n\n- 2025-03-04: Mentioned in: Roadmap sync\n" +
      "- 2025-02-10: Mentioned in: Hiring\n- 2024-12-01: Mentioned in: Old offsite\n"), t);
    // Nothing is missing any more; a second call writes nothing.
    const again = ok(await call("add_mentions", { note: "Ann Lee" }));
    assert.deepEqual(again.added, []);
  });

  await check("rename_note", async () => {
    const before = vaultFiles();
    // Calls that cannot rename: a message that says why, nothing written.
    fails(await call("rename_note", { from: "Ann Leee", to: "Ann Smith" }),
      'no note named "Ann Leee"; did you mean "People/Ann Lee.md"');
    fails(await call("rename_note", { from: "Ann Lee", to: "../Ann Smith.md" }), "outside the vault");
    fails(await call("rename_note", { from: "Ann Lee", to: "People/../../x.md" }), "outside the vault");
    fails(await call("rename_note", { from: "Ann Lee", to: "/tmp/Ann.md" }), "vault-relative");
    // A folder of the vault that is a symlink to a folder outside it.
    const outside = mkdtempSync(tmpdir() + "/qp-outside-");
    symlinkSync(outside, VAULT + "/Out");
    fails(await call("rename_note", { from: "Ann Lee", to: "Out/Ann Lee.md" }),
      "folder Out leads outside the vault");
    assert.deepEqual(readdirSync(outside), []);
    unlinkSync(VAULT + "/Out");
    rmSync(outside, { recursive: true });
    fails(await call("rename_note", { from: "Ann Lee", to: "Meetings/Hiring" }),
      "Meetings/Hiring.md already exists");
    fails(await call("rename_note", { from: "Ann Lee" }), 'missing argument "to"');
    // Not into a folder whose name differs from one of the vault's only in
    // case (onto a note named so, rename.plan itself refuses: the links
    // would become ambiguous).
    fails(await call("rename_note", { from: "Ann Lee", to: "meetings/hiring.md" }),
      "nothing written");
    fails(await call("rename_note", { from: "Ann Lee", to: "people/Ann Smith.md" }),
      "People/ already exists (names differ only in case)");
    assert.deepEqual(vaultFiles(), before, "nothing written by the refusals");

    // A dry run, by alias: every link edit, nothing written.
    const dry = ok(await call("rename_note", { from: "Annie", to: "Ann Smith", dry_run: true }));
    assert.equal(dry.dry_run, true);
    assert.equal(dry.path, "People/Ann Lee.md");
    assert.equal(dry.new_path, "People/Ann Smith.md");
    assert.deepEqual(dry.renames, [{ from: "People/Ann Lee.md", to: "People/Ann Smith.md" }]);
    assert.equal(dry.links, 3);
    assert.equal(dry.files_changed, 2);
    assert.deepEqual(dry.files, ["Ideas.md", "Meetings/Roadmap sync.md"]);
    assert.deepEqual(dry.changes[0],
      { path: "Ideas.md", edits: [{ line: 3, column: 11, old: "Ann Lee", new: "Ann Smith" }] });
    assert.deepEqual(dry.changes[1].edits.map((x) => x.line), [9, 11]);
    assert.deepEqual(vaultFiles(), before, "a dry run writes nothing");

    // The rename: the file moves, the links follow, the index knows.
    const r = ok(await call("rename_note", { from: "Ann Lee", to: "Ann Smith" }));
    assert.equal(r.dry_run, false);
    assert.equal(r.new_path, "People/Ann Smith.md");
    assert.equal(r.uri, uriOf("People/Ann Smith.md"));
    assert.equal(r.links, 3);
    assert.equal(r.files_changed, 2);
    assert.equal(r.changes, undefined);
    assert.ok(!existsSync(VAULT + "/People/Ann Lee.md"));
    assert.equal(readFileSync(VAULT + "/People/Ann Smith.md", "utf8"), before["People/Ann Lee.md"]);
    assert.equal(lineOf("Ideas.md", 3), "Talk to [[Ann Smith|Ann]] about [[Missing Page]].");
    assert.equal(lineOf("Meetings/Roadmap sync.md", 9), "[[Ann Smith]] presented the roadmap.");
    assert.equal(lineOf("Meetings/Roadmap sync.md", 11),
      "- [ ] Send the deck to [[Ann Smith]] 📅 2025-03-10 ⏫");
    assert.equal(readFileSync(VAULT + "/Meetings/Hiring.md", "utf8"), before["Meetings/Hiring.md"]);
    const b = ok(await call("backlinks", { note: "Ann Smith" }));
    assert.equal(b.path, "People/Ann Smith.md");
    assert.deepEqual(b.linked.map((s) => s.path), ["Ideas.md", "Meetings/Roadmap sync.md"]);
    assert.equal(ok(await call("read_note", { note: "Annie" })).path, "People/Ann Smith.md");
    fails(await call("rename_note", { from: "People/Ann Lee.md", to: "Ann Lee" }), "no note named");

    // A file edited between the plan and the write: refused, nothing written.
    const slow = new Client({ name: "quipu-test-slow", version: "1.0.0" });
    await slow.connect(new StdioClientTransport({
      command: QUIPU,
      args: ["mcp", "--allow-write"],
      env: { ...process.env, QUIPU_APPLY_DELAY_MS: "4000" },
      stderr: "inherit",
    }));
    const pending = slow.callTool({ name: "rename_note",
      arguments: { from: "Ann Smith", to: "Archive/Ann Lee-Smith" } });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    appendFileSync(VAULT + "/Ideas.md", "Edited meanwhile.\n");
    const edited = vaultFiles();
    fails(await pending, "Ideas.md changed since the rename was planned");
    assert.deepEqual(vaultFiles(), edited, "nothing written after the refusal");
    assert.ok(!existsSync(VAULT + "/Archive"));
    await slow.close();
  });
}

await client.close();
console.log(JSON.stringify(report));
