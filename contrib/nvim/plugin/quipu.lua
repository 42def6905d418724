-- quipu: commands and autocommands. The work happens in lua/quipu/, loaded
-- on first use.
if vim.g.loaded_quipu then
  return
end
vim.g.loaded_quipu = true

local cmd = vim.api.nvim_create_user_command

cmd('QuipuBacklinks', function()
  require('quipu').backlinks()
end, { desc = 'quipu: linked and unlinked mentions of this note, live' })

cmd('QuipuMentions', function()
  require('quipu').mentions()
end, { desc = 'quipu: "Mentioned in", missing and stale Recent Context entries' })

cmd('QuipuTasks', function(o)
  require('quipu').tasks(o.args)
end, { nargs = '*', desc = 'quipu: Obsidian Tasks query into the quickfix list' })

cmd('QuipuStatus', function()
  require('quipu').status()
end, { desc = 'quipu: daemon state' })

cmd('QuipuStart', function()
  require('quipu').start()
end, { desc = 'quipu: start quipud for this vault' })

cmd('QuipuClose', function()
  require('quipu.panel').close()
end, { desc = 'quipu: close the panel' })

local group = vim.api.nvim_create_augroup('quipu', { clear = true })
vim.api.nvim_create_autocmd({ 'BufEnter', 'BufWritePost' }, {
  group = group,
  pattern = '*.md',
  callback = function(ev)
    require('quipu').on_buf_event(ev.event, ev.buf)
  end,
})
