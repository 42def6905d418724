// client.js — a scripted session against `quipu lsp` with the
// vscode-languageserver-protocol client (the library VS Code's own client
// is built on). Usage: node client.js QUIPU VAULT OUT.json
// It negotiates UTF-8 positions, walks every capability, and writes what
// the server answered (simplified) to OUT.json for test_lsp_client.py.
'use strict';
const cp = require('child_process');
const fs = require('fs');
const path = require('path');
const url = require('url');
const rpc = require('vscode-languageserver-protocol/node');

const [quipu, vault, outFile] = process.argv.slice(2);
const out = { steps: {}, notes: [] };
const uriOf = (rel) => url.pathToFileURL(path.join(vault, rel)).href;
const relOf = (uri) => path.relative(vault, url.fileURLToPath(uri));
const loc = (l) => l && [relOf(l.uri || l.targetUri),
  (l.range || l.targetSelectionRange).start.line, (l.range || l.targetSelectionRange).start.character,
  (l.range || l.targetSelectionRange).end.line, (l.range || l.targetSelectionRange).end.character];
const locs = (r) => (r ? (Array.isArray(r) ? r : [r]) : []).map(loc).sort((a, b) =>
  JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);

async function main() {
  const child = cp.spawn(quipu, ['lsp', '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const conn = rpc.createProtocolConnection(new rpc.StreamMessageReader(child.stdout),
    new rpc.StreamMessageWriter(child.stdin));
  const diags = {};
  const waiters = [];
  conn.onNotification(rpc.PublishDiagnosticsNotification.type, (p) => {
    diags[relOf(p.uri)] = p.diagnostics;
    for (const w of waiters.slice()) w();
  });
  conn.onNotification('window/showMessage', (p) => out.notes.push(p.message));
  conn.onNotification('window/logMessage', () => {});
  conn.onRequest('window/workDoneProgress/create', () => null);
  conn.onNotification('$/progress', () => {});
  conn.listen();
  const waitDiag = (rel, pred, ms = 10000) => new Promise((resolve, reject) => {
    const t0 = Date.now();
    const check = () => {
      if (diags[rel] && pred(diags[rel])) {
        waiters.splice(waiters.indexOf(check), 1);
        clearTimeout(timer);
        resolve(Date.now() - t0);
      }
    };
    const timer = setTimeout(() => {
      waiters.splice(waiters.indexOf(check), 1);
      reject(new Error('diagnostics of ' + rel + ' never matched: ' + JSON.stringify(diags[rel])));
    }, ms);
    waiters.push(check);
    check();
  });

  const init = await conn.sendRequest(rpc.InitializeRequest.type, {
    processId: process.pid,
    rootUri: null,
    workspaceFolders: [{ uri: url.pathToFileURL(vault).href, name: 'vault' }],
    capabilities: {
      general: { positionEncodings: ['utf-8', 'utf-16'] },
      window: { workDoneProgress: true },
      textDocument: { documentSymbol: { hierarchicalDocumentSymbolSupport: true } },
    },
    initializationOptions: {},
  });
  out.encoding = init.capabilities.positionEncoding;
  out.providers = Object.keys(init.capabilities).filter((k) => k.endsWith('Provider')).sort();
  conn.sendNotification(rpc.InitializedNotification.type, {});

  const open = (rel) => {
    conn.sendNotification(rpc.DidOpenTextDocumentNotification.type, {
      textDocument: { uri: uriOf(rel), languageId: 'markdown', version: 1,
        text: fs.readFileSync(path.join(vault, rel), 'utf8') },
    });
  };
  const at = (rel, line, character) => ({ textDocument: { uri: uriOf(rel) },
    position: { line, character } });
  const H = 'Notes/Hub.md';
  open(H);
  // UTF-8 columns (bytes): see test_lsp_client.py for the lines.
  out.def = {};
  for (const [name, line, ch] of [['wiki', 8, 4], ['embed', 9, 4], ['markdown', 10, 4],
    ['frontmatter', 3, 5], ['heading', 11, 4], ['nested', 12, 4], ['block', 13, 4],
    ['self', 14, 4]]) {
    out.def[name] = locs(await conn.sendRequest('textDocument/definition', at(H, line, ch)));
  }
  const refs = async (rel, line, ch) => locs(await conn.sendRequest('textDocument/references',
    { ...at(rel, line, ch), context: { includeDeclaration: false } }));
  out.refs = { link: await refs(H, 8, 4), tag: await refs(H, 16, 2) };
  open('People/Zoë Ångström.md');
  const Z = 'People/Zoë Ångström.md';
  out.refs.note = await refs(Z, 0, 0);
  out.refs.heading = await refs(Z, 9, 4);
  out.refs.block = await refs(Z, 13, 18); // on the "^" of "^blk-1"

  const labels = async (rel, line, ch) => {
    const r = await conn.sendRequest('textDocument/completion', at(rel, line, ch));
    return { incomplete: r.isIncomplete, items: r.items.map((i) => [i.label, i.textEdit.newText,
      i.textEdit.range.start.character, i.textEdit.range.end.character]) };
  };
  // Edit the buffer (incremental sync) to type the completion contexts.
  let version = 1;
  const type = (rel, line, ch, text) => conn.sendNotification(
    rpc.DidChangeTextDocumentNotification.type, {
      textDocument: { uri: uriOf(rel), version: ++version },
      contentChanges: [{ range: { start: { line, character: ch }, end: { line, character: ch } },
        text }],
    });
  type(H, 18, 0, '[[zo\n[[Zoë Ångström#Wo\n[[Zoë Ångström#^bl\n#pro\n');
  out.complete = {
    notes: await labels(H, 18, 4),
    headings: await labels(H, 19, Buffer.byteLength('[[Zoë Ångström#Wo')),
    blocks: await labels(H, 20, Buffer.byteLength('[[Zoë Ångström#^bl')),
    tags: await labels(H, 21, 4),
  };
  out.complete.frontmatter = await labels(H, 4, 6);

  const hover = async (rel, line, ch) => {
    const h = await conn.sendRequest('textDocument/hover', at(rel, line, ch));
    return h ? h.contents.value : null;
  };
  out.hover = { link: await hover(H, 8, 4), tasks: await hover(H, 24, 0), tag: await hover(H, 16, 2) };

  out.symbols = (await conn.sendRequest('textDocument/documentSymbol',
    { textDocument: { uri: uriOf(Z) } })).map(function f(s) {
    return [s.name, s.range.start.line, s.range.end.line, (s.children || []).map(f)];
  });
  out.wsymbols = (await conn.sendRequest('workspace/symbol', { query: 'ångs' }))
    .map((s) => [s.name, s.kind, relOf(s.location.uri), s.location.range.start.line]);
  out.links = (await conn.sendRequest('textDocument/documentLink', { textDocument: { uri: uriOf(H) } }))
    .map((l) => [l.range.start.line, l.range.start.character, l.range.end.character,
      relOf(l.target.split('#')[0]) + (l.target.includes('#') ? '#' + l.target.split('#')[1] : '')]);
  out.folds = (await conn.sendRequest('textDocument/foldingRange', { textDocument: { uri: uriOf(H) } }))
    .map((f) => [f.startLine, f.endLine]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);

  // Diagnostics of the hub, then the live clear when the missing note appears.
  await waitDiag(H, (d) => d.some((x) => x.code === 'unresolved-link'));
  out.diags = diags[H].map((d) => [d.code, d.range.start.line, d.range.start.character,
    d.range.end.character, d.severity]).sort();
  const lenses = await conn.sendRequest('textDocument/codeLens', { textDocument: { uri: uriOf(Z) } });
  out.lenses = lenses.map((l) => [l.range.start.line, l.command.title, l.command.command]);
  const hl = await conn.sendRequest('textDocument/codeLens', { textDocument: { uri: uriOf(H) } });
  out.hub_lenses = hl.map((l) => [l.range.start.line, l.command.title, l.command.command]);
  out.commands = {};
  for (const c of ['quipu.backlinks', 'quipu.unlinked', 'quipu.mentions']) {
    out.commands[c] = locs(await conn.sendRequest('workspace/executeCommand',
      { command: c, arguments: [uriOf(Z)] }));
  }
  const tl = hl.find((l) => l.command.command === 'quipu.tasks');
  out.commands['quipu.tasks'] = locs(await conn.sendRequest('workspace/executeCommand',
    { command: 'quipu.tasks', arguments: tl.command.arguments }));
  const actions = await conn.sendRequest('textDocument/codeAction', {
    textDocument: { uri: uriOf(H) },
    range: { start: { line: 15, character: 6 }, end: { line: 15, character: 6 } },
    context: { diagnostics: diags[H] },
  });
  out.actions = actions.map((a) => [a.title, JSON.stringify(a.edit.documentChanges || a.edit.changes)
    .replace(new RegExp(url.pathToFileURL(vault).href.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'g'), 'VAULT')]);
  // Link the plain-text mention in the meeting ("Met Zoë Ångström today.").
  open('Meetings/2025-03-01 Sync.md');
  const la = await conn.sendRequest('textDocument/codeAction', {
    textDocument: { uri: uriOf('Meetings/2025-03-01 Sync.md') },
    range: { start: { line: 9, character: 6 }, end: { line: 9, character: 6 } },
    context: { diagnostics: [] },
  });
  out.link_actions = la.map((a) => [a.title, JSON.stringify(a.edit.changes[uriOf('Meetings/2025-03-01 Sync.md')])]);
  // A note whose frontmatter is not YAML.
  open('Notes/Broken.md');
  await waitDiag('Notes/Broken.md', (d) => d.length > 0);
  out.broken = diags['Notes/Broken.md'].map((d) => [d.code, d.range.start.line, d.severity]);
  fs.mkdirSync(path.join(vault, 'Inbox'), { recursive: true });
  fs.writeFileSync(path.join(vault, 'Inbox/Nowhere.md'), '# Nowhere\n');
  out.steps.clear_ms = await waitDiag(H, (d) => !d.some((x) => x.code === 'unresolved-link'));

  await conn.sendRequest(rpc.ShutdownRequest.type);
  conn.sendNotification(rpc.ExitNotification.type);
  out.exit = await new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  conn.dispose();
}

main().then(() => fs.writeFileSync(outFile, JSON.stringify(out)), (e) => {
  out.error = String(e && e.stack || e);
  fs.writeFileSync(outFile, JSON.stringify(out));
  process.exit(1);
});
