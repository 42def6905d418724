// Drives `quipu mcp` with the official MCP TypeScript SDK client over stdio.
// Run by test/integration/test_mcp.py, which makes the vault (VAULT below),
// starts its quipud (QUIPU_SOCKET) and passes MODE "read" or "write".
// Every expectation is written out by hand from that vault. The SDK checks
// each structuredContent against the tool's outputSchema, so a result that
// does not match its schema fails the call.
import assert from "node:assert/strict";
import { appendFileSync, readFileSync, writeFileSync, existsSync } from "node:fs";
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
  const writes = ["create_note", "append_to_note", "add_mentions"];
  assert.deepEqual(names, write ? [...reads, ...writes] : reads);
  for (const t of tools) {
    assert.equal(t.inputSchema.type, "object", t.name);
    assert.equal(t.outputSchema.type, "object", t.name);
    assert.ok(t.description.length > 80, t.name + " has a description for a model");
    assert.equal(t.annotations.readOnlyHint, !writes.includes(t.name));
  }
});

await check("status", async () => {
  const s = ok(await call("status", {}));
  assert.equal(s.state, "ready");
  assert.equal(s.writable, write);
  assert.equal(s.notes.person, 1);
  assert.equal(s.notes.meeting, 2);
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
  if (!write)
    fails(await call("create_note", { path: "x.md", text: "x" }), "read-only");
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
    const r = ok(await call("add_mentions", { note: "Ann Lee" }));
    assert.deepEqual(r.added.map((x) => x.title), ["Hiring"]);
    const t = readFileSync(VAULT + "/People/Ann Lee.md", "utf8");
    assert.ok(t.includes("## Recent Context\n\n- 2025-03-04: Mentioned in: Roadmap sync\n" +
      "- 2025-02-10: Mentioned in: Hiring\n- 2024-12-01: Mentioned in: Old offsite\n"), t);
    // Nothing is missing any more; a second call writes nothing.
    const again = ok(await call("add_mentions", { note: "Ann Lee" }));
    assert.deepEqual(again.added, []);
  });
}

await client.close();
console.log(JSON.stringify(report));
