-- quipu_lsp: starts `quipu lsp` (Neovim's built-in LSP client) for Markdown
-- buffers inside a vault (a folder with .obsidian/ at or above the file),
-- one server per vault. The panels of plugin/quipu.lua keep working beside
-- it. Turn it off with `let g:quipu_lsp = 0` (or vim.g.quipu_lsp = false)
-- before the plugin loads; g:quipu_lsp_cmd changes the command
-- (default {'quipu', 'lsp'}). See docs/editors.md.
if vim.g.loaded_quipu_lsp then
  return
end
vim.g.loaded_quipu_lsp = true

local clients = {} -- vault root -> client id

local function enabled()
  local v = vim.g.quipu_lsp
  return v ~= false and v ~= 0
end

local function vault_of(buf)
  local name = vim.api.nvim_buf_get_name(buf)
  if name == '' then
    return nil
  end
  local dir = vim.fn.fnamemodify(name, ':p:h')
  local found = vim.fn.finddir('.obsidian', dir .. ';')
  if found == '' then
    return nil
  end
  return vim.fn.fnamemodify(found, ':p:h:h')
end

local function attach(buf)
  if not enabled() or vim.bo[buf].buftype ~= '' then
    return
  end
  local root = vault_of(buf)
  if not root then
    return
  end
  local id = clients[root]
  local client = id and vim.lsp.get_client_by_id(id)
  if not client or client.is_stopped() then
    id = vim.lsp.start_client({
      name = 'quipu',
      cmd = vim.g.quipu_lsp_cmd or { 'quipu', 'lsp' },
      root_dir = root,
      workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    })
    if not id then
      return
    end
    clients[root] = id
  end
  vim.lsp.buf_attach_client(buf, id)
end

vim.api.nvim_create_autocmd('FileType', {
  group = vim.api.nvim_create_augroup('quipu_lsp', { clear = true }),
  pattern = 'markdown',
  callback = function(ev)
    attach(ev.buf)
  end,
})
