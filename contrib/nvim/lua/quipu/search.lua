-- :QuipuSearch QUERY — full-text search through quipud's `search` method
-- (docs/search.md). Results go to the quickfix list, one entry per matching
-- line; with no QUERY and Telescope or fzf-lua installed, a picker searches
-- as you type (the last word is a prefix). Each entry opens at the hit.
local quipu = require('quipu')

local M = {}

-- Quickfix items of a search result: one per matching line, or one per note
-- matched only by its name, path, tags or properties.
function M.items(vault, result)
  local items = {}
  for _, r in ipairs(result.results or {}) do
    local file = vault .. '/' .. r.path
    if #(r.matches or {}) == 0 then
      items[#items + 1] = { filename = file, lnum = 1, col = 1, text = r.title or r.path }
    end
    for _, m in ipairs(r.matches or {}) do
      items[#items + 1] = { filename = file, lnum = m.line, col = m.column, text = m.text }
    end
  end
  return items
end

local function report(err)
  if err.data and err.data.kind == 'query_error' then
    quipu.notify('search: ' .. (err.data.message or err.message), vim.log.levels.WARN)
  else
    quipu.report_error(err, 'search')
  end
end

-- Runs `query` and fills the quickfix list (prefix off: the query is whole).
function M.to_qf(bufnr, query)
  quipu.client_for(bufnr, function(err, client, vault)
    if err then
      quipu.report_error(err)
      return
    end
    local limit = quipu.config.search_limit or 200
    client:request('search', { query = query, prefix = false, limit = limit }, function(serr, res)
      if serr then
        report(serr)
        return
      end
      local items = M.items(vault, res)
      vim.fn.setqflist({}, ' ', { title = 'quipu search: ' .. query, items = items })
      local more = res.total > #(res.results or {}) and
          string.format(' (first %d of %d notes)', #res.results, res.total) or ''
      quipu.notify(string.format('%d matching line%s%s', #items, #items == 1 and '' or 's', more))
      if #items > 0 then
        vim.cmd('botright copen')
      end
    end)
  end)
end

-- Telescope: a dynamic picker asking quipud on every keystroke. Telescope
-- calls a dynamic finder's fn inside its plenary.async coroutine, which
-- only yields to plenary's own futures (a bare coroutine.yield() there
-- fails plenary's "expected func" check), so the answer is awaited through
-- a plenary oneshot channel, as Telescope's own dynamic workspace-symbol
-- picker does. The reply is handed over from a scheduled callback: the
-- picker touches buffers as soon as fn returns, which a loop callback may
-- not.
local function telescope_picker(client, vault)
  local pickers = require('telescope.pickers')
  local finders = require('telescope.finders')
  local conf = require('telescope.config').values
  local channel = require('plenary.async.control').channel
  local search = function(prompt)
    if not prompt or prompt == '' then
      return {}
    end
    local tx, rx = channel.oneshot()
    client:request('search', { query = prompt, limit = 50 }, function(err, res)
      vim.schedule(function()
        tx(err, res)
      end)
    end)
    local err, res = rx()
    if err or not res then
      return {}
    end
    return M.items(vault, res)
  end
  pickers.new({}, {
    prompt_title = 'quipu search',
    finder = finders.new_dynamic({
      fn = search,
      entry_maker = function(it)
        local rel = it.filename:sub(#vault + 2)
        return {
          value = it, ordinal = rel .. ' ' .. it.text,
          display = string.format('%s:%d: %s', rel, it.lnum, it.text),
          filename = it.filename, lnum = it.lnum, col = it.col,
        }
      end,
    }),
    previewer = conf.grep_previewer({}),
    sorter = require('telescope.sorters').empty(),
  }):find()
end

-- fzf-lua: a live picker whose lines are path:line:col: text.
local function fzf_picker(client, vault)
  local fzf = require('fzf-lua')
  fzf.fzf_live(function(prompt)
    return function(cb)
      if not prompt or prompt == '' then
        cb(nil)
        return
      end
      client:request('search', { query = prompt, limit = 50 }, function(err, res)
        vim.schedule(function()
          if not err then
            for _, it in ipairs(M.items(vault, res)) do
              cb(string.format('%s:%d:%d: %s', it.filename:sub(#vault + 2), it.lnum, it.col, it.text))
            end
          end
          cb(nil)
        end)
      end)
    end
  end, { prompt = 'quipu search> ', cwd = vault, actions = fzf.defaults.actions.files,
         previewer = 'builtin', exec_empty_query = false })
end

function M.run(bufnr, query)
  if query and query ~= '' then
    M.to_qf(bufnr, query)
    return
  end
  local has_telescope = pcall(require, 'telescope.pickers')
  local has_fzf = not has_telescope and pcall(require, 'fzf-lua')
  if not has_telescope and not has_fzf then
    quipu.notify('usage: :QuipuSearch QUERY (a live picker needs Telescope or fzf-lua)',
      vim.log.levels.WARN)
    return
  end
  quipu.client_for(bufnr, function(err, client, vault)
    if err then
      quipu.report_error(err)
      return
    end
    vim.schedule(function()
      if has_telescope then
        telescope_picker(client, vault)
      else
        fzf_picker(client, vault)
      end
    end)
  end)
end

return M
