-- quipu for Neovim: live backlinks, "Mentioned in" and Obsidian Tasks
-- blocks from a running quipud. See :help quipu.
local rpc = require('quipu.rpc')
local uv = vim.uv or vim.loop

local M = {}

local defaults = {
  socket = nil, -- explicit socket path; else $QUIPU_SOCKET; else asked of quipud
  vault = nil, -- the vault's root, for a folder without .obsidian/ (quipud serves any folder)
  quipud_cmd = nil, -- the daemon binary; nil: quipud from $PATH, else the one installed with this plugin
  quipud = nil, -- the old name of quipud_cmd
  quipu_cmd = nil, -- the CLI that applies the edits of :QuipuRename; nil: quipu from $PATH
  autostart = true, -- start quipud for the vault when no daemon answers
  tasks_blocks = true, -- render ```tasks block results under each block
  tasks_max_lines = 50, -- at most this many virtual lines per block
  panel_width = 60,
  panel_position = 'right', -- or 'left'
  panel_page = 200, -- sources per list on the panel's first page; `+` in the panel doubles it
  today = nil, -- fixed 'YYYY-MM-DD' for task queries (tests); nil = today
}

M.config = vim.deepcopy(defaults)
M.clients = {} -- socket path -> client
M.spawned = {} -- vault root -> pid of a quipud we started

-- Global variables (g:quipu_socket, g:quipu_autostart, ...) override the
-- defaults; setup() overrides both.
local function from_globals()
  local c = vim.deepcopy(defaults)
  for k in pairs(defaults) do
    local v = vim.g['quipu_' .. k]
    if v ~= nil then
      if v == 0 and type(defaults[k]) == 'boolean' then
        v = false
      elseif v == 1 and type(defaults[k]) == 'boolean' then
        v = true
      end
      c[k] = v
    end
  end
  return c
end

local user_opts = {}

function M.setup(opts)
  user_opts = vim.tbl_extend('force', user_opts, opts or {})
  M.config = vim.tbl_extend('force', from_globals(), user_opts)
end

function M.refresh_config()
  M.config = vim.tbl_extend('force', from_globals(), user_opts)
  return M.config
end

-- Messages go through vim.notify with a common prefix; a message that
-- spans lines is one notification.
function M.notify(msg, level)
  vim.notify('quipu: ' .. msg, level or vim.log.levels.INFO)
end

-- The highlight groups, all linked by default. Defined again on
-- ColorScheme, since `:colorscheme` clears them.
local highlights = {
  QuipuTitle = 'Title', QuipuSection = 'Statement', QuipuPath = 'Directory',
  QuipuLineNr = 'LineNr', QuipuDate = 'Number', QuipuDim = 'Comment', QuipuError = 'ErrorMsg',
  QuipuTaskGroup = 'Title', QuipuTaskBox = 'Special', QuipuTask = 'Normal',
  QuipuTaskDue = 'Number', QuipuTaskWhere = 'Comment', QuipuTaskCount = 'Comment',
  QuipuTaskError = 'ErrorMsg', QuipuTaskExplain = 'Comment',
}

function M.define_highlights()
  for group, target in pairs(highlights) do
    vim.cmd(string.format('highlight default link %s %s', group, target))
  end
end

-- The plugin's own directory (…/contrib/nvim or <prefix>/share/quipu/nvim).
local plugin_dir = vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p:h:h:h')

-- The quipud to run: quipud_cmd (or its old name quipud) when set; else
-- quipud from $PATH; else the one installed with this plugin
-- (<prefix>/bin beside <prefix>/share/quipu/nvim), the one of a build in
-- the checkout (build/), or the one beside quipu on $PATH.
function M.quipud_cmd()
  local c = M.config.quipud_cmd or M.config.quipud
  if c and c ~= '' then
    return c
  end
  if vim.fn.executable('quipud') == 1 then
    return 'quipud'
  end
  local candidates = {
    vim.fn.fnamemodify(plugin_dir, ':h:h:h') .. '/bin/quipud',
    vim.fn.fnamemodify(plugin_dir, ':h:h') .. '/build/quipud',
  }
  local cli = vim.fn.exepath('quipu')
  if cli ~= '' then
    candidates[#candidates + 1] = vim.fn.fnamemodify(cli, ':h') .. '/quipud'
  end
  for _, p in ipairs(candidates) do
    if vim.fn.executable(p) == 1 then
      return p
    end
  end
  return 'quipud'
end

-- Where an autostarted quipud logs: $XDG_STATE_HOME/quipu/quipud-<vault>.log.
function M.log_path(vault)
  local state = vim.env.XDG_STATE_HOME
  if not state or state == '' then
    state = (vim.env.HOME or '') .. '/.local/state'
  end
  return state .. '/quipu/quipud-' .. vim.fn.fnamemodify(vault, ':t') .. '.log'
end

---------------------------------------------------------------------------
-- Finding the vault and the socket

local function realpath(p)
  return uv.fs_realpath(p) or p
end

-- The vault of a file: the `vault` option when the file is inside it (any
-- folder, as quipud serves any folder), else the nearest ancestor directory
-- holding .obsidian/.
function M.find_vault(path)
  if not path or path == '' then
    path = vim.fn.getcwd()
  end
  local dir = realpath(vim.fn.fnamemodify(path, ':p'))
  local v = M.config.vault
  if v and v ~= '' then
    v = realpath(vim.fn.fnamemodify(vim.fn.expand(v), ':p')):gsub('/$', '')
    if dir == v or dir:sub(1, #v + 1) == v .. '/' then
      return v
    end
  end
  local st = uv.fs_stat(dir)
  if not st or st.type ~= 'directory' then
    dir = vim.fn.fnamemodify(dir, ':h')
  end
  while dir and dir ~= '' do
    local st2 = uv.fs_stat(dir .. '/.obsidian')
    if st2 and st2.type == 'directory' then
      return dir
    end
    local parent = vim.fn.fnamemodify(dir, ':h')
    if parent == dir then
      break
    end
    dir = parent
  end
  return nil
end

local print_socket_cache = {} -- vault root -> socket path

-- Asks quipud where the socket of a vault lives (the name hashes the
-- vault's real path, which is not worth redoing in Lua). cb(err, path).
local function print_socket(vault, cb)
  if print_socket_cache[vault] then
    cb(nil, print_socket_cache[vault])
    return
  end
  local out = {}
  local stdout = uv.new_pipe(false)
  local quipud = M.quipud_cmd()
  local ok, handle_or_err = pcall(uv.spawn, quipud, {
    args = { '--print-socket', vault },
    stdio = { nil, stdout, nil },
  }, function(code)
    vim.schedule(function()
      local path = vim.trim(table.concat(out))
      if code == 0 and path ~= '' then
        print_socket_cache[vault] = path
        cb(nil, path)
      else
        cb(quipud .. ' --print-socket failed (exit ' .. code .. ')')
      end
    end)
  end)
  if not ok or not handle_or_err then
    stdout:close()
    cb('cannot run ' .. quipud .. ': ' .. tostring(handle_or_err))
    return
  end
  stdout:read_start(function(err, data)
    if data then
      out[#out + 1] = data
    elseif not err then
      stdout:close()
    end
  end)
end

-- cb(err, socket, vault): the socket for a buffer's file (vault may be nil
-- when the socket is configured and the file is outside any .obsidian vault).
function M.resolve_socket(bufnr, cb)
  local cfg = M.refresh_config()
  local name = vim.api.nvim_buf_get_name(bufnr or 0)
  local vault = M.find_vault(name)
  local sock = cfg.socket
  if not sock or sock == '' then
    sock = vim.env.QUIPU_SOCKET
  end
  if sock and sock ~= '' then
    cb(nil, sock, vault)
    return
  end
  if not vault then
    cb('no vault here (no .obsidian/ above ' .. (name ~= '' and name or vim.fn.getcwd())
      .. ', no vault option) and no socket configured (g:quipu_socket, $QUIPU_SOCKET)')
    return
  end
  print_socket(vault, function(err, path)
    cb(err, path, vault)
  end)
end

---------------------------------------------------------------------------
-- Clients, autostart, failure reporting

local reconnect_timers = {}

-- One message per outage: a dead daemon must not produce a stream of
-- errors. The flag is cleared when a connection succeeds.
local function on_fail(client, reason)
  if client.stopping then
    return -- :QuipuStop: not an outage to report or to retry
  end
  if not client.reported then
    client.reported = true
    local v = client.autostart_vault
    local hint
    if client.autostart_error then
      hint = '; autostart failed: ' .. client.autostart_error
    elseif M.config.autostart and v and M.spawned[v] then
      hint = '; the quipud started for it (pid ' .. M.spawned[v].pid .. ') does not answer, see '
        .. M.log_path(v)
    elseif M.config.autostart and v then
      hint = ''
    else
      hint = '. Start it with `' .. M.quipud_cmd() .. ' VAULT` or enable autostart; see :help quipu-daemon'
    end
    M.notify('quipud is not reachable (' .. reason .. ')' .. hint, vim.log.levels.WARN)
  end
  -- Live views are waiting: try again later, backing off to 30 s.
  if client:has_subscriptions() and not reconnect_timers[client] then
    local delay = math.min((client.backoff or 500) * 2, 30000)
    client.backoff = delay
    local t = uv.new_timer()
    reconnect_timers[client] = t
    t:start(delay, 0, function()
      t:close()
      vim.schedule(function()
        reconnect_timers[client] = nil
        if client:has_subscriptions() and client.state == 'idle' then
          client:ensure(function() end)
        end
      end)
    end)
  end
end

local function on_connect(client)
  if client.reported then
    M.notify('connected to quipud again')
  end
  client.reported = false
  client.backoff = nil
end

-- Starts quipud for the vault, detached so it outlives this editor; its
-- log goes to M.log_path(vault) (appended).
function M.start_daemon(vault, socket)
  local cfg = M.config
  local quipud = M.quipud_cmd()
  local args = { vault }
  if cfg.socket or vim.env.QUIPU_SOCKET then
    args[#args + 1] = '--socket'
    args[#args + 1] = socket
  end
  local log = M.log_path(vault)
  vim.fn.mkdir(vim.fn.fnamemodify(log, ':h'), 'p', 448) -- 0700
  local fd = uv.fs_open(log, 'a', 384) -- 0600
  local handle, pid = uv.spawn(quipud, {
    args = args,
    detached = true,
    stdio = { nil, fd, fd },
  }, function() end)
  if fd then
    uv.fs_close(fd)
  end
  if not handle then
    return nil, 'cannot run ' .. quipud .. ': ' .. tostring(pid)
  end
  handle:unref()
  M.spawned[vault] = { pid = pid, started = uv.now(), log = log }
  return pid
end

-- Is the quipud we started for `vault` still starting (alive, and started
-- less than 20 s ago)? Then a refused connection is not an outage.
local function starting(vault)
  local s = M.spawned[vault]
  return s and (uv.now() - s.started) < 20000 and uv.kill(s.pid, 0) == 0
end

local function get_client(socket, vault)
  local client = M.clients[socket]
  if not client then
    client = rpc.new(socket, {
      on_connect = on_connect,
      on_fail = on_fail,
      on_refused = function(c, err)
        -- Only a missing or refusing socket means "no daemon".
        if not (err:match('ENOENT') or err:match('ECONNREFUSED')) then
          return 0
        end
        local v = c.autostart_vault
        if not M.config.autostart or not v or c.stopping then
          return 0
        end
        if M.spawned[v] then
          -- Reconnecting while the daemon we started binds its socket.
          return starting(v) and 40 or 0
        end
        local pid, serr = M.start_daemon(v, c.socket)
        c.autostart_error = serr
        if not pid then
          return 0
        end
        return 40 -- about 15 s of retries while it binds the socket
      end,
    })
    M.clients[socket] = client
  end
  if vault and not client.autostart_vault then
    client.autostart_vault = vault
  end
  return client
end

-- cb(err, client, vault) for a buffer; vault is the daemon's vault root,
-- known once the connection is up (status is asked first).
function M.client_for(bufnr, cb)
  M.resolve_socket(bufnr, function(err, socket, vault)
    if err then
      cb(err)
      return
    end
    local client = get_client(socket, vault)
    if client.vault then
      cb(nil, client, client.vault)
      return
    end
    -- The first status tells the vault root; callers arriving meanwhile
    -- share that one request.
    if client.status_waiters then
      table.insert(client.status_waiters, cb)
      return
    end
    client.status_waiters = { cb }
    client:request('status', {}, function(serr, st)
      local waiters = client.status_waiters
      client.status_waiters = nil
      if not serr then
        client.status = st
        client.vault = st.vault and realpath(st.vault) or vault
      end
      for _, w in ipairs(waiters) do
        if serr then
          w(serr)
        else
          w(nil, client, client.vault)
        end
      end
    end)
  end)
end

-- Calls cb() once the daemon's initial scan is over (at once when it
-- already is). Notes are not found until the scan reaches them, so views
-- that got not_found retry then. One status subscription serves all.
function M.when_ready(client, cb)
  if client.ready_waiters then
    table.insert(client.ready_waiters, cb)
    return
  end
  client.ready_waiters = { cb }
  local handle
  local function fire()
    local waiters = client.ready_waiters or {}
    client.ready_waiters = nil
    if handle then
      client:unsubscribe(handle)
    end
    for _, f in ipairs(waiters) do
      f()
    end
  end
  handle = client:subscribe('status', {}, function(st)
    if type(st) == 'table' then
      client.status = st
    end
    if type(st) ~= 'table' or st.state ~= 'scanning' then
      fire()
    end
  end, fire)
end

-- The vault-relative path of a buffer's file, or nil when it is not
-- inside the vault.
function M.relpath(bufnr, vault)
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == '' or not vault then
    return nil
  end
  local full = vim.fn.fnamemodify(name, ':p')
  -- The file may not exist yet: resolve its directory instead.
  local dir = realpath(vim.fn.fnamemodify(full, ':h'))
  full = dir .. '/' .. vim.fn.fnamemodify(full, ':t')
  local prefix = vault:sub(-1) == '/' and vault or vault .. '/'
  if full:sub(1, #prefix) == prefix then
    return full:sub(#prefix + 1)
  end
  return nil
end

function M.is_markdown(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  return vim.bo[bufnr].buftype == '' and (name:match('%.md$') ~= nil or vim.bo[bufnr].filetype == 'markdown')
end

-- cb(client, vault, relpath) for a Markdown buffer inside the daemon's
-- vault; reports why not otherwise (unless quiet).
function M.with_note(bufnr, quiet, cb)
  M.client_for(bufnr, function(err, client, vault)
    if err then
      if not quiet then
        M.report_error(err)
      end
      return
    end
    local rel = M.relpath(bufnr, vault)
    if not rel then
      if not quiet then
        M.notify(vim.api.nvim_buf_get_name(bufnr) .. ' is not in the vault ' .. tostring(vault),
          vim.log.levels.WARN)
      end
      return
    end
    cb(client, vault, rel)
  end)
end

-- Errors of a request, told once: a dead daemon is reported by on_fail.
function M.report_error(err, what)
  if type(err) == 'table' and err.data and err.data.kind == 'disconnected' then
    return
  end
  local msg = type(err) == 'table' and (err.message or vim.inspect(err)) or tostring(err)
  M.notify((what and (what .. ': ') or '') .. msg, vim.log.levels.WARN)
end

---------------------------------------------------------------------------
-- Commands

function M.backlinks()
  require('quipu.panel').open('backlinks', vim.api.nvim_get_current_buf())
end

function M.mentions()
  require('quipu.panel').open('mentions', vim.api.nvim_get_current_buf())
end

function M.tasks(query)
  require('quipu.tasks').query_to_qf(vim.api.nvim_get_current_buf(), query)
end

function M.status()
  local bufnr = vim.api.nvim_get_current_buf()
  M.client_for(bufnr, function(err, client)
    if err then
      M.report_error(err, 'status')
      return
    end
    client:request('status', {}, function(serr, st)
      if serr then
        M.report_error(serr, 'status')
        return
      end
      M.notify(string.format('%s %s, vault %s, %d files, %d tasks (generation %s)',
        st.state, st.version, st.vault, st.files or 0, st.tasks or 0, tostring(st.generation)))
    end)
  end)
end

-- Ends the quipud of the current buffer's vault: the one this editor
-- started (SIGTERM to its pid), else through `quipu stop`, which finds the
-- daemon's pid from its socket.
function M.stop()
  local bufnr = vim.api.nvim_get_current_buf()
  M.resolve_socket(bufnr, function(err, socket, vault)
    if err then
      M.notify(err, vim.log.levels.WARN)
      return
    end
    local s = vault and M.spawned[vault]
    local client = M.clients[socket]
    if client then
      client.stopping = true
    end
    if s and uv.kill(s.pid, 0) == 0 then
      uv.kill(s.pid, 'sigterm')
      M.spawned[vault] = nil
      M.notify('stopped quipud (pid ' .. s.pid .. ') for ' .. vault)
      return
    end
    local quipu = vim.fn.exepath('quipu')
    if quipu == '' then
      local d = vim.fn.fnamemodify(M.quipud_cmd(), ':h')
      quipu = vim.fn.executable(d .. '/quipu') == 1 and d .. '/quipu' or ''
    end
    if quipu == '' then
      M.notify('no quipud started by this editor, and no quipu to stop another', vim.log.levels.WARN)
      return
    end
    local out = vim.fn.system({ quipu, '--socket', socket, 'stop' })
    M.notify(vim.trim(out), vim.v.shell_error == 0 and vim.log.levels.INFO or vim.log.levels.WARN)
  end)
end

function M.start()
  local bufnr = vim.api.nvim_get_current_buf()
  M.resolve_socket(bufnr, function(err, socket, vault)
    if err or not vault then
      M.notify(err or 'no vault (.obsidian/) above this file', vim.log.levels.WARN)
      return
    end
    M.spawned[vault] = nil
    if M.clients[socket] then
      M.clients[socket].stopping = nil
    end
    local pid, serr = M.start_daemon(vault, socket)
    if not pid then
      M.notify(serr, vim.log.levels.ERROR)
    else
      M.notify('started quipud (pid ' .. pid .. ') for ' .. vault)
      get_client(socket, vault):ensure(function() end)
    end
  end)
end

-- BufEnter / BufWritePost on Markdown files: task blocks follow the buffer,
-- and so does an open panel.
function M.on_buf_event(ev, bufnr)
  if not M.is_markdown(bufnr) then
    return
  end
  if M.config.tasks_blocks then
    require('quipu.tasks').attach(bufnr, ev == 'BufWritePost')
  end
  require('quipu.panel').follow(bufnr, ev == 'BufWritePost')
end

return M
