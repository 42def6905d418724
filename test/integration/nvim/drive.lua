-- Drives the quipu plugin in headless Neovim for test_nvim.py and writes
-- what it saw (panel lines, virtual lines, quickfix, health, messages) as
-- JSON to $QP_OUT. The Python side holds the expected values.
--
-- $QP_MODE: "main" (a running daemon), "dead" (no daemon, autostart off),
-- "autostart" (no daemon yet; the plugin starts $QUIPUD).
local uv = vim.uv or vim.loop
local out = { mode = vim.env.QP_MODE, notes = {}, steps = {} }
local vault = vim.env.QP_VAULT

-- Record messages instead of printing them.
vim.notify = function(msg, level)
  table.insert(out.notes, { msg = msg, level = level })
end

local function finish(code)
  local f = assert(io.open(vim.env.QP_OUT, 'w'))
  f:write(vim.fn.json_encode(out))
  f:close()
  vim.cmd((code == 0) and 'qall!' or 'cquit! ' .. code)
end

local function lines(buf)
  return vim.api.nvim_buf_get_lines(buf, 0, -1, false)
end

local function panel_lines()
  local st = require('quipu.panel').state()
  if not st.buf or not vim.api.nvim_buf_is_valid(st.buf) then
    return {}
  end
  return lines(st.buf)
end

-- Waits up to ms for pred(); records how long it took.
local function wait(name, ms, pred)
  local t0 = uv.hrtime()
  local ok = vim.wait(ms, pred, 10)
  out.steps[name] = { ok = ok, ms = math.floor((uv.hrtime() - t0) / 1e6) }
  return ok
end

local function append(rel, text)
  local f = assert(io.open(vault .. '/' .. rel, 'a'))
  f:write(text)
  f:close()
end

local function panel_has(pat)
  for _, l in ipairs(panel_lines()) do
    if l:find(pat, 1, true) then
      return true
    end
  end
  return false
end

-- The panel shows a result (not "loading…" or a message) for header.
local function panel_ready(header)
  local l = panel_lines()
  return l[1] == header and l[3] ~= nil
    and (l[3]:match('^Linked mentions') ~= nil or l[3]:match('^Mentioned in') ~= nil)
end

local function main()
  local mara = vault .. '/People/Mara Lindqvist.md'
  vim.cmd('edit ' .. vim.fn.fnameescape(mara))
  local note_buf = vim.api.nvim_get_current_buf()

  vim.cmd('QuipuBacklinks')
  wait('backlinks', 5000, function()
    return panel_ready('Backlinks: People/Mara Lindqvist.md')
  end)
  out.panel_filetype = vim.bo[require('quipu.panel').state().buf or 0].filetype
  out.panel_windows = #vim.api.nvim_tabpage_list_wins(0)
  out.backlinks = panel_lines()

  append('Meetings/2025-11-20 Planning.md', '- Follow up with [[Mara Lindqvist]] on pricing\n')
  wait('backlinks_update', 2000, function()
    return panel_has('Meetings/2025-11-20 Planning.md')
  end)
  out.backlinks_updated = panel_lines()

  -- A page of one source per list, then `+` for the next.
  vim.g.quipu_panel_page = 1
  vim.cmd('QuipuClose')
  vim.api.nvim_set_current_win(vim.fn.bufwinid(note_buf))
  vim.cmd('QuipuBacklinks')
  wait('page', 5000, function()
    return panel_has('Linked mentions (1 of 2)')
  end)
  out.page = panel_lines()
  require('quipu.panel').more()
  wait('page_more', 5000, function()
    return panel_has('Linked mentions (2)')
  end)
  out.page_more = panel_lines()
  vim.g.quipu_panel_page = nil
  vim.api.nvim_set_current_win(vim.fn.bufwinid(note_buf))

  local tasks = require('quipu.tasks')
  wait('tasks_blocks', 5000, function()
    return #tasks.rendered(note_buf) > 0
  end)
  out.tasks_blocks = tasks.rendered(note_buf)

  append('Meetings/2025-11-14 RFP debrief.md', '- [ ] Send Mara the pricing deck 📅 2025-12-01\n')
  wait('tasks_blocks_update', 2000, function()
    local r = tasks.rendered(note_buf)
    return r[1] and #r[1].lines == 3
  end)
  out.tasks_blocks_updated = tasks.rendered(note_buf)

  vim.cmd([[QuipuTasks not done\ndescription includes Mara]])
  wait('qf', 5000, function()
    return #vim.fn.getqflist() > 0
  end)
  out.qf = {}
  for _, it in ipairs(vim.fn.getqflist()) do
    local name = vim.api.nvim_buf_get_name(it.bufnr)
    table.insert(out.qf, { file = name:sub(#vault + 2), lnum = it.lnum, text = it.text })
  end
  out.qf_title = vim.fn.getqflist({ title = 1 }).title
  vim.cmd('cclose')

  vim.cmd('QuipuSearch monthly review')
  wait('search_qf', 5000, function()
    return vim.fn.getqflist({ title = 1 }).title == 'quipu search: monthly review'
  end)
  out.search_qf = {}
  for _, it in ipairs(vim.fn.getqflist()) do
    local name = vim.api.nvim_buf_get_name(it.bufnr)
    table.insert(out.search_qf, { file = name:sub(#vault + 2), lnum = it.lnum, col = it.col, text = it.text })
  end
  vim.cmd('cclose')

  vim.api.nvim_set_current_win(vim.fn.bufwinid(note_buf))
  vim.cmd('QuipuMentions')
  wait('mentions', 5000, function()
    return panel_ready('Mentions: People/Mara Lindqvist.md')
  end)
  out.mentions = panel_lines()

  vim.cmd('QuipuBacklinks')
  wait('backlinks_again', 5000, function()
    return panel_ready('Backlinks: People/Mara Lindqvist.md')
  end)
  -- <CR> on an occurrence line jumps to path, line and column.
  local st = require('quipu.panel').state()
  vim.api.nvim_set_current_win(st.win)
  for i, l in ipairs(panel_lines()) do
    if l:find('to confirm headcount', 1, true) then
      vim.api.nvim_win_set_cursor(st.win, { i, 0 })
      break
    end
  end
  vim.cmd('normal ' .. vim.api.nvim_replace_termcodes('<CR>', true, false, true))
  out.jump = {
    file = vim.api.nvim_buf_get_name(0):sub(#vault + 2),
    cursor = vim.api.nvim_win_get_cursor(0),
  }
  -- The jump made the meeting the current note: the panel follows it.
  wait('follow_jump', 5000, function()
    return panel_ready('Backlinks: Meetings/2025-10-30 Rob 1on1.md')
  end)
  out.followed_meeting = panel_lines()

  vim.cmd('edit ' .. vim.fn.fnameescape(vault .. '/People/Rob Kestrel.md'))
  wait('follow_edit', 5000, function()
    return panel_ready('Backlinks: People/Rob Kestrel.md')
  end)
  out.followed_person = panel_lines()

  vim.cmd('checkhealth quipu')
  out.health = lines(0)

  -- Closing the panel ends its subscription; the window goes away.
  vim.cmd('QuipuClose')
  out.after_close = { state = require('quipu.panel').state(), windows = #vim.api.nvim_tabpage_list_wins(0) }
end

local function dead()
  vim.g.quipu_autostart = false
  vim.cmd('edit ' .. vim.fn.fnameescape(vault .. '/People/Mara Lindqvist.md'))
  vim.cmd('QuipuBacklinks')
  vim.wait(300)
  vim.cmd('QuipuMentions')
  vim.wait(300)
  vim.cmd('QuipuTasks not done')
  vim.wait(300)
  vim.cmd('edit ' .. vim.fn.fnameescape(vault .. '/People/Rob Kestrel.md'))
  vim.wait(300)
  vim.cmd('QuipuStatus')
  vim.wait(1000)
  vim.cmd('checkhealth quipu')
  out.health = lines(0)
end

local function autostart()
  require('quipu').setup({
    socket = vim.env.QP_SOCKET,
    quipud_cmd = vim.env.QUIPUD,
    autostart = true,
  })
  vim.cmd('edit ' .. vim.fn.fnameescape(vault .. '/People/Mara Lindqvist.md'))
  vim.cmd('QuipuBacklinks')
  wait('autostart_backlinks', 20000, function()
    return panel_ready('Backlinks: People/Mara Lindqvist.md')
  end)
  out.backlinks = panel_lines()
  local s = require('quipu').spawned[vault]
  out.spawned = s and s.pid
  out.log = require('quipu').log_path(vault)
  local f = io.open(out.log, 'r')
  out.log_text = f and f:read('*a') or nil
  if f then
    f:close()
  end
  -- Task blocks and the panel both connected while the daemon started:
  -- no "not reachable" on the way.
  vim.wait(500)
end

-- :Quipu stop on a daemon this editor did not start ($QP_PID): through
-- `quipu stop`, found beside quipud_cmd. The panel's connection then
-- drops without a warning.
local function stop()
  require('quipu').setup({ socket = vim.env.QP_SOCKET, quipud_cmd = vim.env.QUIPUD })
  vim.cmd('edit ' .. vim.fn.fnameescape(vault .. '/People/Mara Lindqvist.md'))
  vim.cmd('QuipuBacklinks')
  wait('stop_backlinks', 10000, function()
    return panel_ready('Backlinks: People/Mara Lindqvist.md')
  end)
  vim.cmd('Quipu stop')
  local pid = tonumber(vim.env.QP_PID)
  out.stopped = wait('stop', 10000, function()
    return uv.kill(pid, 0) ~= 0
  end)
  vim.wait(1500)
end

-- :Quipu and its completion, highlights after :colorscheme, the mentions
-- panel on a note that is not a person, a multi-line query error.
local function polish()
  out.complete_all = vim.fn.getcompletion('Quipu ', 'cmdline')
  out.complete_ba = vim.fn.getcompletion('Quipu ba', 'cmdline')
  vim.cmd('edit ' .. vim.fn.fnameescape(vault .. '/Notes/Board.md'))
  local board = vim.api.nvim_get_current_buf()
  local tasks = require('quipu.tasks')
  wait('board_blocks', 5000, function()
    return #tasks.rendered(board) > 0
  end)
  out.board_blocks = tasks.rendered(board)

  vim.cmd('edit ' .. vim.fn.fnameescape(vault .. '/Meetings/2025-10-30 Rob 1on1.md'))
  vim.cmd('Quipu mentions')
  wait('mentions_meeting', 5000, function()
    return panel_has('not a person note')
  end)
  out.mentions_meeting = panel_lines()

  local function link_of(group)
    return vim.fn.synIDattr(vim.fn.synIDtrans(vim.fn.hlID(group)), 'name')
  end
  -- A colorscheme starts with :highlight clear; the ColorScheme autocmd
  -- then links the groups again (Neovim 0.7 keeps default links through
  -- :highlight clear; newer releases and Lua colorschemes may not).
  local q = require('quipu')
  local define, calls = q.define_highlights, 0
  q.define_highlights = function()
    calls = calls + 1
    define()
  end
  vim.cmd('highlight clear')
  vim.cmd('doautocmd ColorScheme')
  q.define_highlights = define
  out.hl_defined_again = calls
  out.hl_after = { title = link_of('QuipuTitle'), error = link_of('QuipuTaskError') }
end

vim.cmd('runtime plugin/quipu.lua')
local modes = { main = main, dead = dead, autostart = autostart, polish = polish, stop = stop }
local ok, err = xpcall(modes[out.mode], debug.traceback)
if not ok then
  out.error = err
  finish(1)
else
  finish(0)
end
