-- lsp.lua — drives Neovim's own LSP client (vim.lsp.start_client, 0.7 API)
-- against `quipu lsp` and a real quipud, headless, and writes what it saw
-- to $QP_OUT as JSON. test_lsp_nvim.py holds the expected values.
local out = { steps = {} }
local vault = os.getenv('QP_VAULT')

local function rel(uri)
  local f = vim.uri_to_fname(uri)
  return f:sub(#vault + 2)
end

local function finish()
  local f = assert(io.open(os.getenv('QP_OUT'), 'w'))
  f:write(vim.fn.json_encode(out))
  f:close()
  vim.cmd('qa!')
end

local function ms_since(t0)
  return math.floor((vim.loop.hrtime() - t0) / 1e6)
end

local function main()
  local msgs = {}
  local id = vim.lsp.start_client({
    name = 'quipu',
    cmd = { os.getenv('QUIPU'), 'lsp' },
    root_dir = vault,
    handlers = {
      ['window/showMessage'] = function(_, r) table.insert(msgs, r.message) end,
    },
  })
  assert(id, 'start_client failed')
  local client = vim.lsp.get_client_by_id(id)

  local function open(name)
    vim.cmd('edit ' .. vim.fn.fnameescape(vault .. '/' .. name))
    local buf = vim.api.nvim_get_current_buf()
    vim.lsp.buf_attach_client(buf, id)
    return buf
  end

  local function req(method, params, buf)
    local r, e = client.request_sync(method, params, 10000, buf)
    if not r then error(method .. ': ' .. tostring(e)) end
    if r.err then error(method .. ': ' .. vim.inspect(r.err)) end
    return r.result
  end

  -- Cursor at (1-based line, 0-based byte column): Neovim converts it to
  -- UTF-16 itself (make_position_params), as in a real session.
  local function at(line, col)
    vim.api.nvim_win_set_cursor(0, { line, col })
    return vim.lsp.util.make_position_params()
  end

  local function locs(result)
    local t = {}
    if result == nil then return t end
    if result.uri then result = { result } end
    for _, l in ipairs(result) do
      table.insert(t, { rel(l.uri), l.range.start.line, l.range.start.character,
                        l.range['end'].line, l.range['end'].character })
    end
    table.sort(t, function(a, b) return vim.inspect(a) < vim.inspect(b) end)
    return t
  end

  local kick = open('Meetings/2025-01-05 Kickoff.md')
  local ok = vim.wait(15000, function() return client.initialized end, 10)
  assert(ok and client.initialized, 'not initialized')
  out.offset_encoding = client.offset_encoding

  -- definition: line 11 "With 😀 [[Ann Émile]] and [[Ann Émile#Notes 😀|notes]]."
  -- byte 10 is the first "[[", byte 29 the second.
  out.def_note = locs(req('textDocument/definition', at(11, 12), kick))
  out.def_heading = locs(req('textDocument/definition', at(11, 40), kick))
  out.def_block = locs(req('textDocument/definition', at(12, 30), kick))
  out.def_frontmatter = locs(req('textDocument/definition', at(6, 6), kick))
  out.def_none = req('textDocument/definition', at(9, 2), kick) or vim.NIL

  -- hover on the link
  local h = req('textDocument/hover', at(11, 12), kick)
  out.hover = h and h.contents and h.contents.value or ''

  -- diagnostics: the unresolved link, then its live clear once the note
  -- exists on disk (no editor action).
  ok = vim.wait(10000, function() return #vim.diagnostic.get(kick) > 0 end, 5)
  out.diags = {}
  for _, d in ipairs(vim.diagnostic.get(kick)) do
    table.insert(out.diags, { d.lnum, d.col, d.end_lnum, d.end_col, d.message })
  end
  local f = assert(io.open(vault .. '/Missing Note.md', 'w'))
  f:write('# Missing Note\n')
  f:close()
  local t0 = vim.loop.hrtime()
  ok = vim.wait(10000, function() return #vim.diagnostic.get(kick) == 0 end, 2)
  out.steps.diag_clear = { ok = ok, ms = ms_since(t0) }

  -- completion after "[[" (typed into the buffer: incremental sync) and
  -- workspace symbols; both need the daemon's complete.* / symbols.search.
  local n = vim.api.nvim_buf_line_count(kick)
  vim.api.nvim_buf_set_lines(kick, n, n, false, { 'See [[Ann' })
  local cr = req('textDocument/completion', at(n + 1, 9), kick)
  out.completion = {}
  for _, it in ipairs(cr.items or cr) do
    table.insert(out.completion, { it.label, it.textEdit and it.textEdit.newText,
                                   it.textEdit and it.textEdit.range.start.character })
  end
  out.wsymbols = {}
  for _, sym in ipairs(req('workspace/symbol', { query = 'Émile' }, kick) or {}) do
    table.insert(out.wsymbols, { sym.name, sym.kind, rel(sym.location.uri),
                                 sym.location.range.start.line })
  end

  -- references and symbols in the person note
  local ann = open('People/Ann Émile.md')
  out.refs_note = locs(req('textDocument/references',
    vim.tbl_extend('force', at(15, 0), { context = { includeDeclaration = false } }), ann))
  out.refs_heading = locs(req('textDocument/references',
    vim.tbl_extend('force', at(13, 3), { context = { includeDeclaration = false } }), ann))
  out.refs_block = locs(req('textDocument/references',
    vim.tbl_extend('force', at(15, 11), { context = { includeDeclaration = false } }), ann))
  local function names(syms, depth)
    local t = {}
    for _, s in ipairs(syms or {}) do
      table.insert(t, { s.name, s.range and s.range.start.line or s.location.range.start.line,
                        names(s.children, depth + 1) })
    end
    return t
  end
  out.symbols = names(req('textDocument/documentSymbol',
    { textDocument = vim.lsp.util.make_text_document_params() }, ann), 0)
  local folds = req('textDocument/foldingRange',
    { textDocument = vim.lsp.util.make_text_document_params() }, ann)
  out.folds = {}
  for _, r in ipairs(folds) do table.insert(out.folds, { r.startLine, r.endLine }) end
  table.sort(out.folds, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)

  -- person diagnostics: missing and stale Recent Context lines
  ok = vim.wait(10000, function() return #vim.diagnostic.get(ann) >= 2 end, 5)
  out.ann_diags = {}
  for _, d in ipairs(vim.diagnostic.get(ann)) do
    table.insert(out.ann_diags, { d.lnum, d.message })
  end
  table.sort(out.ann_diags, function(a, b) return a[1] < b[1] end)

  -- code lens
  out.lenses = {}
  for _, l in ipairs(req('textDocument/codeLens',
      { textDocument = vim.lsp.util.make_text_document_params() }, ann)) do
    table.insert(out.lenses, { l.range.start.line, l.command.title, l.command.command })
  end
  local cmd_locs = req('workspace/executeCommand',
    { command = 'quipu.mentions', arguments = { vim.uri_from_bufnr(ann) } }, ann)
  out.cmd_mentions = locs(cmd_locs)

  -- code action: add the missing "Mentioned in" line, apply, save; the
  -- missing-mention diagnostic goes away once the daemon sees the file.
  local params = vim.lsp.util.make_range_params()
  params.context = { diagnostics = vim.diagnostic.get(ann) }
  params.range = { start = { line = 7, character = 0 }, ['end'] = { line = 7, character = 0 } }
  local actions = req('textDocument/codeAction', params, ann)
  out.actions = {}
  local add
  for _, a in ipairs(actions) do
    table.insert(out.actions, a.title)
    if a.title:match('^Add') then add = a end
  end
  if add then
    vim.lsp.util.apply_workspace_edit(add.edit, client.offset_encoding)
    vim.cmd('write')
    t0 = vim.loop.hrtime()
    ok = vim.wait(10000, function()
      for _, d in ipairs(vim.diagnostic.get(ann)) do
        if d.message:match('^missing') then return false end
      end
      return true
    end, 5)
    out.steps.action_clear = { ok = ok, ms = ms_since(t0) }
    out.after_action = vim.api.nvim_buf_get_lines(ann, 8, 12, false)
  end

  -- the CRLF note: positions on a line after CRLF endings
  local crlf = open('Notes/Crlf.md')
  out.crlf_fileformat = vim.bo[crlf].fileformat
  out.def_crlf = locs(req('textDocument/definition', at(3, 12), crlf))
  out.messages = msgs
  client.stop()
  vim.wait(3000, function() return client.is_stopped() end, 10)
end

local ok, err = pcall(main)
if not ok then out.error = tostring(err) end
finish()
