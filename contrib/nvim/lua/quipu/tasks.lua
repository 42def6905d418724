-- Obsidian Tasks: live results of each ```tasks block of a buffer, drawn as
-- virtual lines under the block (extmark virt_lines, Neovim >= 0.6), and
-- :QuipuTasks, which puts a query's results in the quickfix list.
local quipu = require('quipu')

local M = {}

local ns = vim.api.nvim_create_namespace('quipu_tasks')

-- bufnr -> { client, note, sub, blocks }
local attached = {}
-- bufnr -> true once its BufWipeout/BufDelete cleanup is registered
local rec_cleanup = {}

quipu.define_highlights()

local function has_tasks_block(bufnr)
  for _, l in ipairs(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)) do
    if l:match('^%s*```+%s*tasks%s*$') or l:match('^%s*~~~+%s*tasks%s*$') then
      return true
    end
  end
  return false
end

-- The 0-based line of the fence closing the block opened at 1-based `line`.
local function closing_fence(bufnr, line)
  local fence = '^%s*([`~][`~][`~]+)'
  local first = vim.api.nvim_buf_get_lines(bufnr, line - 1, line, false)[1]
  if line > 1 and not (first and first:match(fence)) then
    -- A line number that points at the query's first line: the fence is above.
    local above = vim.api.nvim_buf_get_lines(bufnr, line - 2, line - 1, false)[1]
    if above and above:match(fence) then
      line = line - 1
    end
  end
  local lines = vim.api.nvim_buf_get_lines(bufnr, line - 1, -1, false)
  local open = lines[1] and lines[1]:match(fence)
  for i = 2, #lines do
    local fence = lines[i]:match('^%s*([`~][`~][`~]+)%s*$')
    if fence and open and fence:sub(1, 1) == open:sub(1, 1) and #fence >= #open then
      return line - 1 + i - 1
    end
  end
  return math.max(0, math.min(line - 1, vim.api.nvim_buf_line_count(bufnr) - 1))
end

-- The one-line text of a task: "[ ] description  📅 due  (path:line)".
function M.task_chunks(t, indent)
  local chunks = {
    { indent, 'QuipuTask' },
    { '[' .. ((t.status and t.status.symbol) or ' ') .. '] ', 'QuipuTaskBox' },
    { t.description or t.text or '', 'QuipuTask' },
  }
  if t.due then
    chunks[#chunks + 1] = { '  📅 ' .. t.due, 'QuipuTaskDue' }
  end
  chunks[#chunks + 1] = { string.format('  (%s:%d)', t.path, t.line), 'QuipuTaskWhere' }
  return chunks
end

local function block_lines(block)
  local out = {}
  local max = quipu.config.tasks_max_lines
  if block.error then
    -- The error is a message, or an object {message, line} (possibly as
    -- a JSON-RPC error with them in data).
    local e = block.error
    local msg, line = e, nil
    if type(e) == 'table' then
      local d = type(e.data) == 'table' and e.data or {}
      msg = d.message or e.message or vim.inspect(e)
      line = d.line or e.line
    end
    -- The error's line counts from the block's first query line: shown as
    -- the file's line. A message of several lines is several virtual lines
    -- (a newline inside one would show as ^@).
    local where = ''
    if line and block.line then
      where = ' at line ' .. (block.line + line)
    elseif line then
      where = ' (query line ' .. line .. ')'
    end
    local out_lines = {}
    local first = true
    local text = tostring(msg):gsub('%s+$', '')
    for part in (text .. '\n'):gmatch('(.-)\r?\n') do
      if first then
        part = '  quipu: query error' .. where .. ': ' .. part
        first = false
      else
        part = '    ' .. part
      end
      out_lines[#out_lines + 1] = { { part, 'QuipuTaskError' } }
    end
    return out_lines
  end
  local res = block.result or {}
  -- A query holding `explain` gets the engine's explanation first, a
  -- virtual line per line, as the Tasks plugin draws it above the results;
  -- it does not count against tasks_max_lines.
  local explain = {}
  if type(res.explain) == 'string' then
    for part in (res.explain:gsub('%s+$', '') .. '\n'):gmatch('(.-)\r?\n') do
      explain[#explain + 1] = { { part == '' and '' or ('  ' .. part), 'QuipuTaskExplain' } }
    end
  end
  local shown = 0
  for _, g in ipairs(res.groups or {}) do
    local indent = '  '
    if g.names and #g.names > 0 then
      if #out < max then
        out[#out + 1] = { { '  ' .. table.concat(g.names, ' > '), 'QuipuTaskGroup' } }
      end
      indent = '    '
    end
    for _, t in ipairs(g.tasks or {}) do
      if #out < max then
        out[#out + 1] = M.task_chunks(t, indent)
        shown = shown + 1
      end
    end
  end
  local total = res.total or shown
  local summary = total == 1 and '  1 task' or string.format('  %d tasks', total)
  if shown < total then
    summary = summary .. string.format(' (%d shown)', shown)
  end
  out[#out + 1] = { { summary, 'QuipuTaskCount' } }
  if #explain > 0 then
    vim.list_extend(explain, out)
    return explain
  end
  return out
end

local function render(bufnr, blocks)
  if not vim.api.nvim_buf_is_valid(bufnr) then
    return
  end
  vim.api.nvim_buf_clear_namespace(bufnr, ns, 0, -1)
  for _, block in ipairs(blocks or {}) do
    local row = closing_fence(bufnr, block.line or 1)
    vim.api.nvim_buf_set_extmark(bufnr, ns, row, 0, {
      virt_lines = block_lines(block),
    })
  end
end

function M.detach(bufnr)
  local a = attached[bufnr]
  attached[bufnr] = nil
  if a and a.sub then
    a.client:unsubscribe(a.sub)
  end
  if vim.api.nvim_buf_is_valid(bufnr) then
    vim.api.nvim_buf_clear_namespace(bufnr, ns, 0, -1)
  end
end

-- Subscribes to tasks.blocks for the buffer's note when it has a tasks
-- block. Called on BufEnter (cheap when already attached) and on
-- BufWritePost (a block may have been added, or the note renamed).
function M.attach(bufnr, recheck, retried)
  local a = attached[bufnr]
  if a and not recheck then
    return
  end
  if not has_tasks_block(bufnr) then
    if a then
      M.detach(bufnr)
    end
    return
  end
  quipu.with_note(bufnr, true, function(client, _, rel)
    local cur = attached[bufnr]
    if cur and cur.client == client and cur.note == rel and cur.sub then
      return
    end
    M.detach(bufnr)
    local rec = { client = client, note = rel, retried = retried }
    attached[bufnr] = rec
    local params = { note = rel }
    if quipu.config.today then
      params.today = quipu.config.today
    end
    rec.sub = client:subscribe('tasks.blocks', params, function(blocks)
      if attached[bufnr] ~= rec then
        return
      end
      rec.blocks = blocks
      render(bufnr, blocks)
    end, function(err)
      -- A new note is not indexed until it is saved (the next
      -- BufWritePost attaches again), nor before the scan reaches it.
      if attached[bufnr] ~= rec then
        return
      end
      if not (err.data and err.data.kind == 'not_found') then
        -- Said once per buffer: the record stays, so no new attempt follows.
        quipu.report_error(err, 'tasks blocks of ' .. rel)
      else
        M.detach(bufnr)
        if not rec.retried then
          quipu.when_ready(client, function()
            if attached[bufnr] == nil and vim.api.nvim_buf_is_valid(bufnr) then
              M.attach(bufnr, false, true)
            end
          end)
        end
      end
    end)
    if not rec_cleanup[bufnr] then
      rec_cleanup[bufnr] = true
      vim.api.nvim_create_autocmd({ 'BufWipeout', 'BufDelete' }, {
        buffer = bufnr,
        once = true,
        callback = function()
          rec_cleanup[bufnr] = nil
          M.detach(bufnr)
        end,
      })
    end
  end)
end

-- What is drawn under the blocks of bufnr (for tests): a list per block of
-- its virtual lines as plain strings.
function M.rendered(bufnr)
  local out = {}
  local marks = vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { details = true })
  for _, m in ipairs(marks) do
    local lines = {}
    for _, vl in ipairs(m[4].virt_lines or {}) do
      local parts = {}
      for _, chunk in ipairs(vl) do
        parts[#parts + 1] = chunk[1]
      end
      lines[#lines + 1] = table.concat(parts)
    end
    out[#out + 1] = { row = m[2] + 1, lines = lines }
  end
  return out
end

local function set_qf(vault, title, groups)
  local items = {}
  for _, g in ipairs(groups or {}) do
    local prefix = (g.names and #g.names > 0) and (table.concat(g.names, ' > ') .. ': ') or ''
    for _, t in ipairs(g.tasks or {}) do
      items[#items + 1] = {
        filename = vault .. '/' .. t.path,
        lnum = t.line,
        col = 1,
        text = prefix .. '[' .. ((t.status and t.status.symbol) or ' ') .. '] '
          .. (t.description or t.text or '') .. (t.due and ('  📅 ' .. t.due) or ''),
      }
    end
  end
  vim.fn.setqflist({}, ' ', { title = title, items = items })
  return #items
end

-- :QuipuTasks {query}: the query's results in the quickfix list. Lines of
-- a multi-line query are separated by a literal \n. Without a query, the
-- results of the buffer's tasks blocks.
function M.query_to_qf(bufnr, query)
  query = (query or ''):gsub('\\n', '\n')
  quipu.client_for(bufnr, function(err, client, vault)
    if err then
      quipu.report_error(err)
      return
    end
    M.run_query(client, vault, quipu.relpath(bufnr, vault), query, bufnr)
  end)
end

local function show_qf(vault, title, groups)
  local n = set_qf(vault, title, groups)
  quipu.notify(n == 1 and '1 task' or string.format('%d tasks', n))
  if n > 0 then
    vim.cmd('botright copen')
  end
end

-- rel is the note the query is asked from (nil outside the vault).
function M.run_query(client, vault, rel, query, bufnr)
  if query == '' then
    local a = attached[bufnr]
    if not a or not a.blocks then
      quipu.notify('no query given and no tasks block shown in this buffer', vim.log.levels.WARN)
      return
    end
    local groups = {}
    for _, block in ipairs(a.blocks) do
      for _, g in ipairs(block.result and block.result.groups or {}) do
        groups[#groups + 1] = g
      end
    end
    show_qf(vault, 'quipu tasks: ' .. rel, groups)
    return
  end
  local params = { query = query }
  if rel then
    params.from = rel
  end
  if quipu.config.today then
    params.today = quipu.config.today
  end
  client:request('tasks.query', params, function(err, res)
    if err then
      local msg = err.message or vim.inspect(err)
      if err.data and err.data.message then
        msg = err.data.message .. (err.data.line and (' (query line ' .. err.data.line .. ')') or '')
      end
      if err.data and err.data.kind == 'disconnected' then
        msg = err
      end
      quipu.report_error(msg, 'tasks query')
      return
    end
    show_qf(vault, 'quipu tasks: ' .. (query:gsub('\n', ' | ')), res.groups)
  end)
end

return M
