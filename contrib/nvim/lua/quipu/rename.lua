-- :QuipuRename NEW — rename what is under the cursor, rewriting every link
-- to it: the heading on a heading line, the ^block id at the end of a line,
-- the #tag under the cursor, else the note itself (NEW without '/' is a new
-- name in the same folder). quipud plans the edits; the `quipu` CLI applies
-- them (checked against each file's hash, atomic per file, undone on
-- failure), so the buffers are reloaded from disk afterwards.
local quipu = require('quipu')

local M = {}

-- What the cursor is on: a command and its leading arguments.
function M.target(rel)
  local line = vim.api.nvim_get_current_line()
  local col = vim.api.nvim_win_get_cursor(0)[2] + 1
  local heading = line:match('^#+%s+(.-)%s*$')
  if heading and heading ~= '' then
    return 'rename-heading', { rel, heading }
  end
  for s, tag, e in line:gmatch('()#([%w_/%-]+)()') do
    local before = s == 1 and ' ' or line:sub(s - 1, s - 1)
    if col >= s and col < e and before:match('%s') and not tag:match('^%d+$') then
      return 'rename-tag', { '#' .. tag }
    end
  end
  local bs, id = line:match('()%^([%w%-]+)%s*$')
  if id and col >= bs then
    return 'rename-block', { rel, id }
  end
  return 'mv', { rel }
end

function M.rename(new)
  local bufnr = vim.api.nvim_get_current_buf()
  if not new or new == '' then
    quipu.notify('usage: :QuipuRename NEW', vim.log.levels.ERROR)
    return
  end
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) and vim.bo[b].modified then
      quipu.notify('save your changes first (' .. vim.api.nvim_buf_get_name(b) .. ')',
        vim.log.levels.ERROR)
      return
    end
  end
  quipu.with_note(bufnr, false, function(client, vault, rel)
    local cmd, args = M.target(rel)
    local cli = quipu.config.quipu_cmd or vim.g.quipu_quipu_cmd or 'quipu'
    local argv = { cli, '--socket', client.socket, cmd }
    vim.list_extend(argv, args)
    argv[#argv + 1] = new
    local out, err = {}, {}
    local function collect(t)
      return function(_, data)
        for _, l in ipairs(data or {}) do
          if l ~= '' then
            t[#t + 1] = l
          end
        end
      end
    end
    if vim.fn.executable(cli) ~= 1 then
      quipu.notify(cli .. ' is not executable (set g:quipu_quipu_cmd)', vim.log.levels.ERROR)
      return
    end
    local job = vim.fn.jobstart(argv, {
      cwd = vault,
      stdout_buffered = true,
      stderr_buffered = true,
      on_stdout = collect(out),
      on_stderr = collect(err),
      on_exit = vim.schedule_wrap(function(_, code)
        if code ~= 0 then
          quipu.notify(table.concat(err, '\n'), vim.log.levels.ERROR)
          return
        end
        -- "OLD -> NEW" names the file or folder that moved: follow it
        local from, to = (out[1] or ''):match('^(.-) %-> (.-)$')
        if cmd == 'mv' and from then
          local folder = to:match(' %(folder%)$') ~= nil
          to = to:gsub(' %(folder%)$', '')
          local dest
          if rel == from then
            dest = to
          elseif folder and rel:sub(1, #from + 1) == from .. '/' then
            dest = to .. rel:sub(#from + 1)
          end
          if dest then
            vim.cmd('silent keepalt edit ' .. vim.fn.fnameescape(vault .. '/' .. dest))
            if vim.api.nvim_buf_is_valid(bufnr) and bufnr ~= vim.api.nvim_get_current_buf() then
              vim.api.nvim_buf_delete(bufnr, { force = true })
            end
          end
        end
        vim.cmd('silent! checktime')
        quipu.notify(table.concat(out, '\n'))
      end),
    })
    if job <= 0 then
      quipu.notify('cannot run ' .. argv[1], vim.log.levels.ERROR)
    end
  end)
end

return M
