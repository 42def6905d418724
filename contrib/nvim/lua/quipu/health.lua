-- :checkhealth quipu — the socket, whether quipud answers, its state and
-- version. Works with vim.health (Neovim >= 0.8) and the older `health`
-- module of 0.7.
local M = {}

local function reporter()
  local h = vim.health
  if h and h.start then
    return h
  end
  h = h or require('health')
  return {
    start = h.report_start,
    ok = h.report_ok,
    info = h.report_info,
    warn = h.report_warn,
    error = h.report_error,
  }
end

-- The note buffer to check for: :checkhealth runs in a buffer of its own,
-- so prefer the alternate buffer, then any listed Markdown buffer.
local function note_buffer()
  local alt = vim.fn.bufnr('#')
  local quipu = require('quipu')
  if alt > 0 and vim.api.nvim_buf_is_valid(alt) and quipu.is_markdown(alt) then
    return alt
  end
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) and quipu.is_markdown(b) then
      return b
    end
  end
  return alt > 0 and alt or vim.api.nvim_get_current_buf()
end

-- Waits (bounded) for an asynchronous answer: :checkhealth is synchronous.
local function await(start, timeout)
  local done, a, b, c = false, nil, nil, nil
  start(function(x, y, z)
    done, a, b, c = true, x, y, z
  end)
  vim.wait(timeout, function()
    return done
  end, 20)
  return done, a, b, c
end

function M.check()
  local h = reporter()
  local quipu = require('quipu')
  local cfg = quipu.refresh_config()
  h.start('quipu')

  if vim.json then
    h.ok('JSON: vim.json')
  else
    h.ok('JSON: vim.fn.json_encode/json_decode')
  end
  local quipud = quipu.quipud_cmd()
  if vim.fn.executable(quipud) == 1 then
    h.ok('quipud: ' .. vim.fn.exepath(quipud))
  elseif cfg.autostart then
    h.warn('quipud not found as "' .. quipud .. '": autostart cannot work',
      { 'Install quipu, or set g:quipu_quipud_cmd / setup{quipud_cmd=} to its path' })
  else
    h.info('quipud not found as "' .. quipud .. '" (autostart is off)')
  end

  local bufnr = note_buffer()
  local done, err, socket, vault = await(function(cb)
    quipu.resolve_socket(bufnr, cb)
  end, 5000)
  if not done then
    h.error('timed out finding the socket')
    return
  end
  if err then
    h.error('socket: ' .. tostring(err))
    return
  end
  h.ok('socket: ' .. socket .. (vault and (' (vault ' .. vault .. ')') or ''))

  -- A fresh client: checkhealth reports what happens now, not a cached
  -- state, and never autostarts a daemon.
  local client = require('quipu.rpc').new(socket, {})
  local ok, serr, st = await(function(cb)
    client:request('status', {}, cb)
  end, 5000)
  client:close()
  if not ok then
    h.error('daemon: no answer to "status" within 5 s at ' .. socket)
    return
  end
  if serr then
    h.error('daemon not reachable: ' .. (serr.message or vim.inspect(serr)),
      { 'Start it: quipud ' .. (vault or 'VAULT'), 'or: systemctl --user start quipud@$(systemd-escape --path VAULT)' })
    return
  end
  h.ok(string.format('daemon reachable: quipud %s, protocol %s', tostring(st.version), tostring(st.protocol)))
  local msg = string.format('state: %s, vault %s, %s files, %s tasks, %s links (generation %s)',
    tostring(st.state), tostring(st.vault), tostring(st.files), tostring(st.tasks),
    tostring(st.links), tostring(st.generation))
  if st.state == 'ready' then
    h.ok(msg)
  else
    local p = st.progress or {}
    h.info(msg .. string.format(' — scanning %s/%s', tostring(p.done), tostring(p.total)))
  end
  if st.protocol ~= 1 then
    h.warn('this plugin speaks protocol 1; the daemon reports ' .. tostring(st.protocol))
  end
end

return M
