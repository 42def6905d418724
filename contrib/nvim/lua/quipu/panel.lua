-- The side panel of :QuipuBacklinks and :QuipuMentions: a scratch buffer
-- (filetype quipu) in a vertical split, rendered from a subscription so it
-- redraws itself on every push update, and retargeted when another note of
-- the vault becomes the current buffer.
local quipu = require('quipu')

local M = {}

local ns = vim.api.nvim_create_namespace('quipu_panel')

-- Sources per list on the panel's first page; `+` doubles it.
local PAGE = 200

local S = {
  limit = PAGE,
  buf = nil,
  win = nil,
  mode = nil, -- 'backlinks' | 'mentions'
  client = nil,
  vault = nil,
  note = nil, -- vault-relative path being shown
  sub = nil,
  src_win = nil, -- the editing window the panel follows
  targets = {}, -- panel line -> {path, line, col}
  result = nil,
  generation = nil,
}

quipu.define_highlights()

local function valid_win(w)
  return w and vim.api.nvim_win_is_valid(w)
end

local function valid_buf(b)
  return b and vim.api.nvim_buf_is_valid(b)
end

local function reset()
  if S.sub and S.client then
    S.client:unsubscribe(S.sub)
  end
  S.sub, S.client, S.note, S.mode, S.result = nil, nil, nil, nil, nil
  S.buf, S.win, S.targets = nil, nil, {}
end

-- A renderer collects lines, highlights and jump targets.
local function renderer()
  local r = { lines = {}, hls = {}, targets = {} }
  function r.add(text, hl, target)
    r.lines[#r.lines + 1] = text
    if hl then
      r.hls[#r.hls + 1] = { #r.lines - 1, hl, 0, -1 }
    end
    r.targets[#r.lines] = target
    return #r.lines - 1
  end
  function r.hl(line, group, s, e)
    r.hls[#r.hls + 1] = { line, group, s, e }
  end
  return r
end

local function oneline(s)
  return vim.trim((s or ''):gsub('[\r\n]', ' '))
end

-- "  L12: context" lines of a Source, one per source line.
local function add_occurrences(r, src)
  local seen = {}
  for _, occ in ipairs(src.occurrences or {}) do
    if not seen[occ.line] then
      seen[occ.line] = true
      local prefix = string.format('  L%d: ', occ.line)
      local l = r.add(prefix .. oneline(occ.context), nil,
        { path = src.path, line = occ.line, col = occ.column or 1 })
      r.hl(l, 'QuipuLineNr', 2, #prefix - 1)
    end
  end
  if (src.more_occurrences or 0) > 0 then
    r.add(string.format('  … %d more in this file', src.more_occurrences), 'QuipuDim',
      { path = src.path, line = 1, col = 1 })
  end
end

-- "Title (n)", or "Title (n of total)" when the daemon sent a page.
local function section(r, title, n, total)
  if total and total > n then
    r.add(string.format('%s (%d of %d)', title, n, total), 'QuipuSection')
  else
    r.add(string.format('%s (%d)', title, n), 'QuipuSection')
  end
end

local function more_hint(r, res)
  if res.next_cursor then
    r.add('')
    r.add(string.format('… first %d per list shown: press + for more', S.limit), 'QuipuDim')
  end
end

local function first_target(src)
  local occ = (src.occurrences or {})[1]
  return { path = src.path, line = occ and occ.line or 1, col = occ and occ.column or 1 }
end

local function render_sources(r, title, sources, total)
  section(r, title, #sources, total)
  for _, src in ipairs(sources) do
    r.add(src.path, 'QuipuPath', first_target(src))
    add_occurrences(r, src)
  end
end

local function render_backlinks(r, res)
  render_sources(r, 'Linked mentions', res.linked or {}, res.linked_total)
  r.add('')
  render_sources(r, 'Unlinked mentions', res.unlinked or {}, res.unlinked_total)
  more_hint(r, res)
end

local function dated(r, date, title, path, target)
  title = title or path
  -- A title taken from a "2025-10-16 Weekly sync.md" file name repeats the date.
  if date and title:sub(1, #date + 1) == date .. ' ' then
    title = title:sub(#date + 2)
  end
  local text = string.format('%s %s (%s)', date or '----------', title, path)
  local l = r.add(text, nil, target)
  r.hl(l, 'QuipuDate', 0, 10)
  r.hl(l, 'QuipuPath', #text - #path - 1, #text - 1)
end

local function render_mentions(r, res)
  local mentioned = res.mentioned_in or {}
  local by_path = {}
  section(r, 'Mentioned in', #mentioned, res.mentioned_total)
  for _, src in ipairs(mentioned) do
    by_path[src.path] = src
    dated(r, src.date, src.title, src.path, first_target(src))
    add_occurrences(r, src)
  end
  r.add('')
  local missing = res.missing or {}
  r.add(string.format('Missing from Recent Context (%d)', #missing), 'QuipuSection')
  for _, path in ipairs(missing) do
    local src = by_path[path] or { path = path }
    dated(r, src.date, src.title, path, first_target(src))
  end
  r.add('')
  local stale = res.stale or {}
  r.add(string.format('Stale entries (%d)', #stale), 'QuipuSection')
  for _, e in ipairs(stale) do
    local prefix = string.format('  L%d: ', e.line)
    local l = r.add(prefix .. oneline(e.title), nil, { path = S.note, line = e.line, col = 1 })
    r.hl(l, 'QuipuLineNr', 2, #prefix - 1)
  end
  more_hint(r, res)
end

local titles = { backlinks = 'Backlinks', mentions = 'Mentions' }

local function draw(r)
  if not valid_buf(S.buf) then
    return
  end
  vim.bo[S.buf].modifiable = true
  vim.api.nvim_buf_set_lines(S.buf, 0, -1, false, r.lines)
  vim.bo[S.buf].modifiable = false
  vim.bo[S.buf].modified = false
  vim.api.nvim_buf_clear_namespace(S.buf, ns, 0, -1)
  -- Extmark highlights: nvim_buf_add_highlight is deprecated in newer
  -- releases, extmarks with hl_group work from 0.5 on.
  for _, h in ipairs(r.hls) do
    local len = #r.lines[h[1] + 1]
    local e = (h[4] < 0 or h[4] > len) and len or h[4]
    if e > h[3] then
      vim.api.nvim_buf_set_extmark(S.buf, ns, h[1], h[3], { end_col = e, hl_group = h[2] })
    end
  end
  S.targets = r.targets
end

local function header(r)
  local l = r.add(string.format('%s: %s', titles[S.mode], S.note or '?'), 'QuipuTitle')
  r.hl(l, 'QuipuPath', #titles[S.mode] + 2, -1)
  r.add('')
end

local function render()
  local r = renderer()
  header(r)
  if S.mode == 'backlinks' then
    render_backlinks(r, S.result)
  elseif S.kind and S.kind ~= 'person' then
    r.add('not a person note (kind: ' .. S.kind .. '): "Mentioned in" lists the meetings', 'QuipuDim')
    r.add('that mention a person note (type: person).', 'QuipuDim')
  else
    render_mentions(r, S.result)
  end
  draw(r)
end

local function render_message(text, hl)
  local r = renderer()
  header(r)
  r.add(text, hl)
  draw(r)
end

local function jump()
  local t = S.targets[vim.api.nvim_win_get_cursor(0)[1]]
  if not t or not S.vault then
    return
  end
  local win = S.src_win
  if not valid_win(win) or win == S.win then
    win = nil
    for _, w in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
      if w ~= S.win and vim.bo[vim.api.nvim_win_get_buf(w)].buftype == '' then
        win = w
        break
      end
    end
  end
  if win then
    vim.api.nvim_set_current_win(win)
  else
    vim.cmd(quipu.config.panel_position == 'left' and 'botright vsplit' or 'topleft vsplit')
  end
  vim.cmd('edit ' .. vim.fn.fnameescape(S.vault .. '/' .. t.path))
  local count = vim.api.nvim_buf_line_count(0)
  local line = math.max(1, math.min(t.line or 1, count))
  local text = vim.api.nvim_buf_get_lines(0, line - 1, line, false)[1] or ''
  local col = math.max(0, math.min((t.col or 1) - 1, #text))
  vim.api.nvim_win_set_cursor(0, { line, col })
end

local function create_buf()
  local buf = vim.api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].swapfile = false
  vim.bo[buf].modifiable = false
  vim.api.nvim_buf_set_name(buf, 'quipu://panel')
  vim.bo[buf].filetype = 'quipu'
  local opts = { buffer = buf, silent = true, nowait = true }
  vim.keymap.set('n', '<CR>', jump, opts)
  vim.keymap.set('n', 'q', function()
    M.close()
  end, opts)
  vim.keymap.set('n', 'r', function()
    M.refresh()
  end, opts)
  vim.keymap.set('n', '+', function()
    M.more()
  end, opts)
  vim.api.nvim_create_autocmd('BufWipeout', {
    buffer = buf,
    callback = function()
      if S.buf == buf then
        reset()
      end
    end,
  })
  return buf
end

local function ensure_window()
  if valid_win(S.win) and valid_buf(S.buf) and vim.api.nvim_win_get_buf(S.win) == S.buf then
    return
  end
  local src = vim.api.nvim_get_current_win()
  if not valid_buf(S.buf) then
    S.buf = create_buf()
  end
  vim.cmd((quipu.config.panel_position == 'left' and 'topleft' or 'botright') .. ' vsplit')
  S.win = vim.api.nvim_get_current_win()
  vim.api.nvim_win_set_buf(S.win, S.buf)
  vim.api.nvim_win_set_width(S.win, quipu.config.panel_width)
  local wo = vim.wo[S.win]
  wo.number, wo.relativenumber, wo.wrap, wo.spell, wo.list = false, false, false, false, false
  wo.cursorline, wo.winfixwidth = true, true
  wo.signcolumn, wo.foldcolumn = 'no', '0'
  vim.api.nvim_set_current_win(src)
end

local function subscribe(client, vault, rel, mode, retried)
  if S.sub and S.client then
    S.client:unsubscribe(S.sub)
  end
  if rel ~= S.note or mode ~= S.mode then
    S.limit = quipu.config.panel_page or PAGE -- another view starts at its first page
  end
  S.client, S.vault, S.note, S.mode = client, vault, rel, mode
  S.result, S.generation, S.kind = nil, nil, nil
  render_message('loading…', 'QuipuDim')
  -- A page: a note linked from thousands of files draws at once.
  local params = { note = rel, limit = S.limit }
  if mode == 'backlinks' then
    params.unlinked = true
  end
  local sub
  if mode == 'mentions' then
    -- "Mentioned in" is for people: say so instead of drawing empty lists.
    client:request('note', { note = rel }, function(err, res)
      if S.sub == sub and not err and res then
        S.kind = res.kind
        if S.result then
          render()
        end
      end
    end)
  end
  sub = client:subscribe(mode, params, function(result)
    if S.sub ~= sub then
      return
    end
    S.result = result
    render()
  end, function(err, pushed)
    if S.sub ~= sub then
      return
    end
    local kind = err.data and err.data.kind
    if pushed then
      S.result = nil
      render_message((err.message or 'error') .. ' (deleted or renamed?); shown again when it is back',
        'QuipuDim')
    elseif kind == 'not_found' then
      if retried then
        render_message('not in the index (save the note first?)', 'QuipuDim')
      else
        -- Maybe the initial scan has not reached it: once more when ready.
        render_message('not in the index yet', 'QuipuDim')
        quipu.when_ready(client, function()
          if S.sub == sub then
            subscribe(client, vault, rel, mode, true)
          end
        end)
      end
    elseif kind == 'disconnected' then
      render_message('quipud is not reachable: ' .. (err.message or ''), 'QuipuError')
    else
      render_message('error: ' .. (err.message or vim.inspect(err)), 'QuipuError')
    end
  end)
  S.sub = sub
end

-- Opens (or retargets) the panel in `mode` for the note in bufnr.
function M.open(mode, bufnr)
  if bufnr == S.buf then
    if S.client and S.note then
      subscribe(S.client, S.vault, S.note, mode) -- sets S.mode (and the page, when it changes)
    end
    return
  end
  quipu.with_note(bufnr, false, function(client, vault, rel)
    S.src_win = vim.fn.bufwinid(bufnr) ~= -1 and vim.fn.bufwinid(bufnr) or vim.api.nvim_get_current_win()
    ensure_window()
    subscribe(client, vault, rel, mode)
  end)
end

-- Called on BufEnter of a Markdown buffer: the panel shows that note. On
-- BufWritePost (saved = true) a note that was not indexed is asked again.
function M.follow(bufnr, saved)
  if not (valid_win(S.win) and valid_buf(S.buf)) or bufnr == S.buf or not S.mode then
    return
  end
  quipu.with_note(bufnr, true, function(client, vault, rel)
    if not valid_buf(S.buf) then
      return
    end
    local win = vim.fn.bufwinid(bufnr)
    if win ~= -1 then
      S.src_win = win
    end
    if rel ~= S.note or client ~= S.client or (saved and S.result == nil) then
      subscribe(client, vault, rel, S.mode)
    end
  end)
end

function M.refresh()
  if S.client and S.note and S.mode then
    subscribe(S.client, S.vault, S.note, S.mode)
  end
end

-- The next page: twice as many sources per list, subscribed afresh.
function M.more()
  if S.client and S.note and S.result and S.result.next_cursor then
    S.limit = S.limit * 2
    subscribe(S.client, S.vault, S.note, S.mode)
  end
end

function M.close()
  if valid_win(S.win) and #vim.api.nvim_list_wins() > 1 then
    vim.api.nvim_win_close(S.win, true)
  end
  if valid_buf(S.buf) then
    vim.api.nvim_buf_delete(S.buf, { force = true })
  end
  reset()
end

-- For tests and statuslines: what the panel shows.
function M.state()
  return { buf = S.buf, win = S.win, mode = S.mode, note = S.note, result = S.result }
end

return M
