-- quipu: commands and autocommands. The work happens in lua/quipu/, loaded
-- on first use.
if vim.g.loaded_quipu then
  return
end
vim.g.loaded_quipu = true

local cmd = vim.api.nvim_create_user_command

-- Each subcommand of :Quipu, also reachable by its old :QuipuXxx name.
local subcommands = {
  backlinks = { 'QuipuBacklinks', 'linked and unlinked mentions of this note, live', function()
    require('quipu').backlinks()
  end },
  mentions = { 'QuipuMentions', '"Mentioned in", missing and stale Recent Context entries', function()
    require('quipu').mentions()
  end },
  tasks = { 'QuipuTasks', 'Obsidian Tasks query into the quickfix list', function(args)
    require('quipu').tasks(args)
  end, true },
  status = { 'QuipuStatus', 'daemon state', function()
    require('quipu').status()
  end },
  start = { 'QuipuStart', 'start quipud for this vault', function()
    require('quipu').start()
  end },
  stop = { 'QuipuStop', 'stop the quipud of this vault', function()
    require('quipu').stop()
  end },
  close = { 'QuipuClose', 'close the panel', function()
    require('quipu.panel').close()
  end },
  search = { 'QuipuSearch', 'full-text search into the quickfix list (a picker without a query)',
    function(args)
      require('quipu.search').run(vim.api.nvim_get_current_buf(), args)
    end, true },
  rename = { 'QuipuRename', 'rename the note, heading, block or tag under the cursor, and its links',
    function(args)
      require('quipu.rename').rename(args)
    end, true },
}

local names = vim.tbl_keys(subcommands)
table.sort(names)

for _, name in ipairs(names) do
  local s = subcommands[name]
  cmd(s[1], function(o)
    s[3](o.args)
  end, { nargs = s[4] and '*' or 0, desc = 'quipu: ' .. s[2] })
end

cmd('Quipu', function(o)
  local sub, rest = o.args:match('^%s*(%S+)%s*(.-)%s*$')
  local s = sub and subcommands[sub]
  if not s then
    vim.notify('quipu: :Quipu ' .. table.concat(names, '|') .. (sub and (' (not ' .. sub .. ')') or ''),
      vim.log.levels.WARN)
    return
  end
  s[3](rest)
end, {
  nargs = '+',
  desc = 'quipu: :Quipu backlinks|mentions|tasks|search|status|start|stop|close|rename',
  complete = function(lead, line)
    -- Only the first word is a subcommand; a tasks query is free text.
    if line:match('^%s*%S+%s+%S+%s') then
      return {}
    end
    return vim.tbl_filter(function(n)
      return n:sub(1, #lead) == lead
    end, names)
  end,
})

local group = vim.api.nvim_create_augroup('quipu', { clear = true })
vim.api.nvim_create_autocmd({ 'BufEnter', 'BufWritePost' }, {
  group = group,
  pattern = '*.md',
  callback = function(ev)
    require('quipu').on_buf_event(ev.event, ev.buf)
  end,
})
-- :colorscheme clears every highlight group: link ours again.
vim.api.nvim_create_autocmd('ColorScheme', {
  group = group,
  callback = function()
    if package.loaded['quipu'] then
      require('quipu').define_highlights()
    end
  end,
})
