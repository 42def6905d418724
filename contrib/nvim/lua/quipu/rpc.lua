-- JSON-RPC 2.0 client for quipud over its Unix socket.
--
-- One message per line (NDJSON). Everything is asynchronous: libuv callbacks
-- only buffer bytes, and whole lines are handled on the main loop through
-- vim.schedule, so no Neovim API is ever called from a fast event.
--
-- A client owns one connection. It connects lazily on the first request,
-- queues requests while connecting, and remembers its subscriptions so that
-- they are re-issued after a reconnect (a restarted daemon forgets them).
local uv = vim.uv or vim.loop

local M = {}

local json_encode, json_decode
if vim.json then
  json_encode, json_decode = vim.json.encode, vim.json.decode
else
  json_encode, json_decode = vim.fn.json_encode, vim.fn.json_decode
end

-- JSON null decodes to vim.NIL; callers see plain nil instead.
local function denull(v)
  if v == vim.NIL then
    return nil
  end
  if type(v) == 'table' then
    for k, x in pairs(v) do
      v[k] = denull(x)
    end
  end
  return v
end

local Client = {}
Client.__index = Client

-- opts: { on_connect = fn(client), on_fail = fn(client, message),
--         before_connect = fn(client, attempt_cb) }
function M.new(socket, opts)
  local self = setmetatable({}, Client)
  self.socket = socket
  self.opts = opts or {}
  self.state = 'idle' -- idle | connecting | connected
  self.next_id = 1
  self.pending = {} -- id -> callback
  self.queue = {} -- encoded lines written once connected
  self.waiters = {} -- callbacks of ensure()
  self.subs = {} -- local handle -> subscription record
  self.by_server_id = {} -- server subscription id -> record
  self.rbuf = {}
  return self
end

local function conn_error(msg)
  return { code = -1, message = msg, data = { kind = 'disconnected' } }
end

function Client:_flush_waiters(err)
  local waiters = self.waiters
  self.waiters = {}
  for _, w in ipairs(waiters) do
    w(err)
  end
end

-- Drops the connection: pending requests fail with a 'disconnected' error,
-- subscriptions lose their server ids (they are re-issued on reconnect).
function Client:_drop(reason)
  if self.pipe then
    local pipe = self.pipe
    self.pipe = nil
    if not pipe:is_closing() then
      pipe:read_stop()
      pipe:close()
    end
  end
  local was = self.state
  self.state = 'idle'
  self.rbuf = {}
  self.queue = {}
  self.by_server_id = {}
  for _, rec in pairs(self.subs) do
    rec.server_id = nil
  end
  local pending = self.pending
  self.pending = {}
  local err = conn_error(reason)
  self:_flush_waiters(err)
  for _, cb in pairs(pending) do
    cb(err, nil)
  end
  if (was == 'connected' or was == 'connecting') and self.opts.on_fail then
    self.opts.on_fail(self, reason)
  end
end

function Client:_dispatch(msg)
  if type(msg) ~= 'table' then
    return
  end
  if msg.id ~= nil and msg.id ~= vim.NIL and msg.method == nil then
    local cb = self.pending[msg.id]
    self.pending[msg.id] = nil
    if cb then
      if msg.error ~= nil and msg.error ~= vim.NIL then
        cb(denull(msg.error), nil)
      else
        cb(nil, denull(msg.result))
      end
    end
  elseif msg.method == 'update' and type(msg.params) == 'table' then
    local p = denull(msg.params)
    local rec = self.by_server_id[p.subscription]
    if not rec then
      return
    end
    -- The generation only grows: an older update arriving late is stale.
    if p.generation and rec.generation and p.generation < rec.generation then
      return
    end
    rec.generation = p.generation or rec.generation
    if p.error ~= nil then
      -- A re-run failed (the note was deleted or renamed away): the
      -- subscription lives on, and results come back with the note.
      rec.on_error(p.error, true)
    else
      rec.on_result(p.result, p.generation)
    end
  end
end

function Client:_on_lines(lines)
  for _, line in ipairs(lines) do
    if line ~= '' then
      local ok, msg = pcall(json_decode, line)
      if ok then
        self:_dispatch(msg)
      end
    end
  end
end

-- Splits incoming bytes into lines; a partial line waits for its end.
function Client:_on_data(data)
  local lines = {}
  local start = 1
  while true do
    local nl = data:find('\n', start, true)
    if not nl then
      break
    end
    self.rbuf[#self.rbuf + 1] = data:sub(start, nl - 1)
    lines[#lines + 1] = table.concat(self.rbuf)
    self.rbuf = {}
    start = nl + 1
  end
  if start <= #data then
    self.rbuf[#self.rbuf + 1] = data:sub(start)
  end
  if #lines > 0 then
    vim.schedule(function()
      self:_on_lines(lines)
    end)
  end
end

function Client:_connect_once(cb)
  local pipe = uv.new_pipe(false)
  pipe:connect(self.socket, function(err)
    vim.schedule(function()
      if err then
        if not pipe:is_closing() then
          pipe:close()
        end
        cb(err)
        return
      end
      cb(nil, pipe)
    end)
  end)
end

function Client:_on_connected(pipe)
  self.pipe = pipe
  self.state = 'connected'
  pipe:read_start(function(err, data)
    if err or not data then
      vim.schedule(function()
        if self.pipe == pipe then
          self:_drop(err and ('read error: ' .. err) or 'quipud closed the connection')
        end
      end)
      return
    end
    self:_on_data(data)
  end)
  local queue = self.queue
  self.queue = {}
  for _, line in ipairs(queue) do
    pipe:write(line)
  end
  for _, rec in pairs(self.subs) do
    self:_send_subscribe(rec)
  end
  self:_flush_waiters(nil)
  if self.opts.on_connect then
    self.opts.on_connect(self)
  end
end

-- Calls cb(err) once connected. before_connect (the autostart hook) may
-- start a daemon and ask for retries when the first attempt fails.
function Client:ensure(cb)
  if self.state == 'connected' then
    cb(nil)
    return
  end
  self.waiters[#self.waiters + 1] = cb
  if self.state == 'connecting' then
    return
  end
  self.state = 'connecting'
  local retries, delay = 0, 50
  local function attempt()
    self:_connect_once(function(err, pipe)
      if self.state ~= 'connecting' then
        if pipe and not pipe:is_closing() then
          pipe:close()
        end
        return
      end
      if not err then
        self:_on_connected(pipe)
        return
      end
      if retries == 0 and self.opts.on_refused then
        -- The hook answers how many more attempts are worth making
        -- (e.g. after starting quipud, it needs a moment to listen).
        retries = self.opts.on_refused(self, err) or 0
        retries = retries + 1
      end
      retries = retries - 1
      if retries > 0 then
        local t = uv.new_timer()
        t:start(delay, 0, function()
          t:close()
          vim.schedule(attempt)
        end)
        delay = math.min(delay * 2, 500)
        return
      end
      self:_drop('cannot connect to ' .. self.socket .. ': ' .. err)
    end)
  end
  attempt()
end

function Client:_send(method, params, cb)
  local id = self.next_id
  self.next_id = id + 1
  self.pending[id] = cb
  local line = json_encode({ jsonrpc = '2.0', id = id, method = method, params = params }) .. '\n'
  if self.state == 'connected' then
    self.pipe:write(line)
  else
    self.queue[#self.queue + 1] = line
  end
  return id
end

-- An empty Lua table would be encoded as [], and params must be an object.
local function object(params)
  if params == nil or (type(params) == 'table' and next(params) == nil) then
    return vim.empty_dict()
  end
  return params
end

-- Sends a request; cb(err, result) runs on the main loop. err is the
-- JSON-RPC error object, or one with data.kind = 'disconnected'.
function Client:request(method, params, cb)
  cb = cb or function() end
  params = object(params)
  if self.state == 'connected' then
    self:_send(method, params, cb)
    return
  end
  self:ensure(function(err)
    if err then
      cb(err, nil)
    else
      self:_send(method, params, cb)
    end
  end)
end

function Client:_send_subscribe(rec)
  rec.server_id = nil
  self:_send('subscribe', { method = rec.method, params = rec.params }, function(err, res)
    if not self.subs[rec.handle] then
      -- Cancelled while the request was in flight.
      if not err and res and res.subscription ~= nil then
        self:request('unsubscribe', { subscription = res.subscription })
      end
      return
    end
    if err then
      rec.on_error(err)
      return
    end
    rec.server_id = res.subscription
    self.by_server_id[res.subscription] = rec
    rec.generation = res.generation
    rec.on_result(res.result, res.generation)
  end)
end

local next_handle = 1

-- Subscribes to method(params): on_result(result) runs with the first
-- result and again on every push update; on_error(err) when the daemon
-- refuses or cannot be reached, and on_error(err, true) for a pushed
-- update that carries an error instead of a result (the subscription stays). Returns a handle for unsubscribe().
function Client:subscribe(method, params, on_result, on_error)
  local handle = next_handle
  next_handle = next_handle + 1
  local rec = {
    handle = handle,
    method = method,
    params = object(params),
    on_result = on_result,
    on_error = on_error or function() end,
  }
  self.subs[handle] = rec
  if self.state == 'connected' then
    self:_send_subscribe(rec)
  else
    -- _on_connected re-issues every recorded subscription.
    self:ensure(function(err)
      if err and self.subs[handle] then
        rec.on_error(err)
      end
    end)
  end
  return handle
end

function Client:unsubscribe(handle)
  local rec = self.subs[handle]
  if not rec then
    return
  end
  self.subs[handle] = nil
  if rec.server_id ~= nil then
    self.by_server_id[rec.server_id] = nil
    if self.state == 'connected' then
      self:_send('unsubscribe', { subscription = rec.server_id }, function() end)
    end
  end
end

function Client:has_subscriptions()
  return next(self.subs) ~= nil
end

function Client:close()
  self.subs = {}
  self:_drop('closed')
end

return M
