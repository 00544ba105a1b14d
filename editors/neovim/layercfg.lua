-- layercfg.lua: Neovim client for the layercfg language server (*.layercfg.json Keras configs).
--
-- Copy this file to ~/.config/nvim/lua/layercfg.lua and call, from init.lua:
--
--   require('layercfg').setup({ settings = { modules = { 'mypkg.layers' } } })
--
-- Works on Neovim 0.7 (vim.lsp.start_client + vim.lsp.buf_attach_client) and on 0.8 and
-- later (vim.lsp.start). *.layercfg.json files get the compound filetype
-- `json.layercfg`: Neovim loads JSON's syntax, indent and ftplugin for it, and only this
-- server attaches (a `json` language server does not match the compound name).

local M = {}

local has_lsp_start = type(vim.lsp.start) == 'function'
-- Client methods are called with `:` from 0.11 on (the `.` form is deprecated there).
local method_calls = vim.fn.has('nvim-0.11') == 1

local function call(client, name, ...)
  if method_calls then
    return client[name](client, ...)
  end
  return client[name](...)
end

local function all_clients()
  return (vim.lsp.get_clients or vim.lsp.get_active_clients)()
end

M.defaults = {
  -- Full server command. When nil it is built from `python`.
  cmd = nil,
  -- Interpreter that runs `<python> -m layercfg lsp` (and, by default, the Keras worker).
  -- When nil: the `layercfg` script on PATH if there is one, else `python3`.
  python = nil,
  filetype = 'json.layercfg',
  pattern = '*.layercfg.json',
  -- The project root is the nearest directory holding one of these; else the file's directory.
  root_markers = { 'pyproject.toml', 'setup.cfg', 'setup.py', '.git' },
  -- The `layercfg` settings section (the server's defaults apply to keys left out).
  settings = {
    modules = {},
    -- Import the workspace's own Python modules (custom layers). Neovim has no notion of a
    -- trusted workspace, so this is off unless you turn it on.
    trustWorkspace = false,
    deepCheck = 'onType',
    deepCheckTimeout = 20,
    deepCheckMemoryMB = 2048,
    severity = {},
  },
  on_attach = nil,
  capabilities = nil,
  -- Report catalog changes (building / ready / failed) with vim.notify.
  notify_status = true,
}

M.options = vim.deepcopy(M.defaults)

-- Last `layercfg/status` per client id.
M._status = {}
-- Client per root directory, for Neovim 0.7 which has no vim.lsp.start.
local clients_by_root = {}
-- Interpreters already found to import layercfg.
local probed = {}

local function notify(message, level)
  vim.notify('layercfg: ' .. message, level or vim.log.levels.INFO)
end

-- Lua tables encode as JSON arrays when empty; maps must stay objects.
local function as_object(value)
  if type(value) ~= 'table' or next(value) == nil then
    return vim.empty_dict()
  end
  return value
end

--- The `layercfg` section as sent to the server.
function M.server_settings(settings)
  local result = vim.deepcopy(settings or M.options.settings)
  if result.severity ~= nil then
    result.severity = as_object(result.severity)
  end
  if next(result) == nil then
    return vim.empty_dict()
  end
  return result
end

--- The command that starts the server over stdio.
function M.server_cmd(options)
  options = options or M.options
  if options.cmd then
    return options.cmd
  end
  if options.python then
    return { options.python, '-m', 'layercfg', 'lsp' }
  end
  if vim.fn.executable('layercfg') == 1 then
    return { 'layercfg', 'lsp' }
  end
  return { 'python3', '-m', 'layercfg', 'lsp' }
end

local function dirname(path)
  return vim.fn.fnamemodify(path, ':h')
end

--- The project root for a file: the nearest ancestor with a root marker, else its directory.
function M.root_dir(fname, markers)
  local start = dirname(vim.fn.fnamemodify(fname, ':p'))
  local dir = start
  while true do
    for _, marker in ipairs(markers or M.options.root_markers) do
      if vim.loop.fs_stat(dir .. '/' .. marker) then
        return dir
      end
    end
    local parent = dirname(dir)
    if parent == dir then
      return start
    end
    dir = parent
  end
end

-- `python -m` puts the current directory first on sys.path; run the server from a directory
-- of our own so that a project's `layercfg` folder is never imported in place of the package.
local function neutral_cwd()
  local dir = vim.fn.stdpath('cache') .. '/layercfg'
  if vim.fn.isdirectory(dir) == 0 then
    vim.fn.mkdir(dir, 'p')
  end
  if vim.fn.isdirectory(dir) == 1 then
    return dir
  end
  return nil
end

local function status_text(status)
  if not status then
    return 'layercfg'
  end
  local text
  if status.catalog == 'ready' then
    text = 'Keras ' .. (type(status.kerasVersion) == 'string' and status.kerasVersion or '?')
  elseif status.catalog == 'building' then
    text = 'layercfg: building catalog'
  elseif status.catalog == 'failed' then
    text = 'layercfg: catalog failed'
  else
    text = 'layercfg: no catalog'
  end
  if status.deepCheck == 'running' then
    text = text .. ' (deep check)'
  end
  return text
end

--- A short status for statuslines, e.g. `Keras 3.10.0` or `layercfg: building catalog`.
function M.status(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  for _, client in ipairs(all_clients()) do
    if client.name == 'layercfg' and vim.lsp.buf_is_attached(bufnr, client.id) then
      return status_text(M._status[client.id])
    end
  end
  return ''
end

local function on_status(_, result, ctx)
  if type(result) ~= 'table' then
    return
  end
  local previous = M._status[ctx.client_id]
  M._status[ctx.client_id] = result
  if M.options.notify_status and (not previous or previous.catalog ~= result.catalog) then
    local message = type(result.message) == 'string' and result.message or nil
    if result.catalog == 'building' then
      notify('building the Keras catalog…')
    elseif result.catalog == 'ready' then
      local backend = type(result.backend) == 'string' and (' (' .. result.backend .. ')') or ''
      notify(status_text(result) .. backend .. ' ready')
    elseif result.catalog == 'failed' then
      notify('building the Keras catalog failed' .. (message and (': ' .. message) or ''), vim.log.levels.WARN)
    end
  end
  pcall(vim.api.nvim_exec_autocmds, 'User', { pattern = 'LayercfgStatus', modeline = false })
  vim.cmd('redrawstatus')
end

--- The client configuration for a buffer (what vim.lsp.start / start_client receive).
function M.client_config(bufnr)
  local options = M.options
  local fname = vim.api.nvim_buf_get_name(bufnr)
  local root = M.root_dir(fname, options.root_markers)
  local settings = M.server_settings(options.settings)
  return {
    name = 'layercfg',
    cmd = M.server_cmd(options),
    cmd_cwd = neutral_cwd(),
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    init_options = settings,
    settings = { layercfg = settings },
    capabilities = options.capabilities,
    get_language_id = function()
      return 'layercfg-json'
    end,
    handlers = { ['layercfg/status'] = on_status },
    on_init = function(client)
      -- Neovim does not send the settings by itself after `initialize`.
      call(client, 'notify', 'workspace/didChangeConfiguration', { settings = client.config.settings })
      return true
    end,
    on_attach = options.on_attach,
    on_exit = function(_, _, client_id)
      M._status[client_id] = nil
      for root_dir, id in pairs(clients_by_root) do
        if id == client_id then
          clients_by_root[root_dir] = nil
        end
      end
    end,
  }
end

-- Says what is wrong when the command cannot work; true when it looks usable.
local function check_cmd(cmd)
  local program = cmd[1]
  if vim.fn.executable(program) ~= 1 then
    notify(('cannot start the server: "%s" is not an executable. Set `python` or `cmd` in '
      .. "require('layercfg').setup{}, or install layercfg: python3 -m pip install layercfg"):format(program),
      vim.log.levels.ERROR)
    return false
  end
  if cmd[2] == '-m' and cmd[3] == 'layercfg' and probed[program] == nil then
    vim.fn.system({ program, '-c', 'import layercfg' })
    probed[program] = vim.v.shell_error == 0
    if not probed[program] then
      notify(('layercfg is not installed for %s. Install it with: %s -m pip install layercfg')
        :format(program, vim.fn.shellescape(program)), vim.log.levels.ERROR)
    end
  end
  return probed[program] ~= false
end

--- Starts (or reuses) the server for a buffer and attaches it.
function M.start(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if vim.bo[bufnr].buftype ~= '' then
    return nil
  end
  local config = M.client_config(bufnr)
  if not check_cmd(config.cmd) then
    return nil
  end
  if has_lsp_start then
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  local id = clients_by_root[config.root_dir]
  local client = id and vim.lsp.get_client_by_id(id)
  if not client or call(client, 'is_stopped') then
    id = vim.lsp.start_client(config)
    if not id then
      return nil
    end
    clients_by_root[config.root_dir] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

local function layercfg_client(bufnr)
  local fallback
  for _, client in ipairs(all_clients()) do
    if client.name == 'layercfg' then
      if vim.lsp.buf_is_attached(bufnr, client.id) then
        return client
      end
      fallback = fallback or client
    end
  end
  return fallback
end

--- Runs a server command (`workspace/executeCommand`); `on_result(result)` gets the answer.
function M.execute(command, arguments, on_result)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = layercfg_client(bufnr)
  if not client then
    notify('no layercfg server is running; open a *.layercfg.json file first', vim.log.levels.WARN)
    return
  end
  local params = { command = command, arguments = arguments or {} }
  call(client, 'request', 'workspace/executeCommand', params, function(err, result)
    if err then
      notify(command .. ' failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    elseif on_result then
      on_result(result)
    end
  end, bufnr)
end

function M.deep_check()
  local bufnr = vim.api.nvim_get_current_buf()
  M.execute('layercfg.deepCheck', { vim.uri_from_bufnr(bufnr) })
end

function M.rebuild_catalog()
  M.execute('layercfg.rebuildCatalog', {}, function()
    notify('catalog rebuild requested')
  end)
end

function M.show_schema()
  M.execute('layercfg.showSchema', {}, function(result)
    local text = type(result) == 'string' and result or vim.json.encode(result)
    vim.cmd('new')
    local buf = vim.api.nvim_get_current_buf()
    vim.bo[buf].buftype = 'nofile'
    vim.bo[buf].bufhidden = 'wipe'
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(text, '\n', { plain = true }))
    vim.bo[buf].filetype = 'json'
    pcall(vim.api.nvim_buf_set_name, buf, 'layercfg-schema.json')
  end)
end

--- Replaces settings (merged into the current ones) and sends them to the running servers.
function M.update_settings(settings)
  M.options.settings = vim.tbl_deep_extend('force', M.options.settings, settings or {})
  local section = M.server_settings(M.options.settings)
  for _, client in ipairs(all_clients()) do
    if client.name == 'layercfg' then
      client.config.settings = { layercfg = section }
      call(client, 'notify', 'workspace/didChangeConfiguration', { settings = client.config.settings })
    end
  end
end

local function register_treesitter(filetype)
  -- Let tree-sitter highlight the compound filetype with the JSON parser where it can.
  if vim.treesitter.language and type(vim.treesitter.language.register) == 'function' then
    pcall(vim.treesitter.language.register, 'json', filetype)
  end
  local ok, parsers = pcall(require, 'nvim-treesitter.parsers')
  if ok and type(parsers.filetype_to_parsername) == 'table' then
    parsers.filetype_to_parsername[filetype] = 'json'
  end
end

--- Sets up filetype detection, the autostart and the user commands.
function M.setup(options)
  M.options = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), options or {})
  -- Lists are replaced, not merged by index.
  if options and options.settings and options.settings.modules then
    M.options.settings.modules = options.settings.modules
  end
  local filetype = M.options.filetype
  local group = vim.api.nvim_create_augroup('layercfg', { clear = true })
  vim.api.nvim_create_autocmd({ 'BufRead', 'BufNewFile' }, {
    group = group,
    pattern = M.options.pattern,
    callback = function(args)
      -- Forced, so that it wins over JSON's detection whichever runs first.
      vim.bo[args.buf].filetype = filetype
    end,
  })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = filetype,
    callback = function(args)
      M.start(args.buf)
    end,
  })
  register_treesitter(filetype)

  vim.api.nvim_create_user_command('LayercfgDeepCheck', M.deep_check, { desc = 'layercfg: deep check this file' })
  vim.api.nvim_create_user_command('LayercfgRebuildCatalog', M.rebuild_catalog, { desc = 'layercfg: rebuild the Keras catalog' })
  vim.api.nvim_create_user_command('LayercfgShowSchema', M.show_schema, { desc = 'layercfg: show the generated JSON Schema' })
  vim.api.nvim_create_user_command('LayercfgStatus', function()
    print(M.status() ~= '' and M.status() or 'layercfg: not attached to this buffer')
  end, { desc = 'layercfg: catalog and deep check state' })
  vim.api.nvim_create_user_command('LayercfgLog', function()
    vim.cmd('tabnew ' .. vim.fn.fnameescape(vim.lsp.get_log_path()))
  end, { desc = 'layercfg: open the LSP log' })

  -- Buffers opened before setup() ran (lazy loading) get the filetype now.
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) then
      local name = vim.api.nvim_buf_get_name(bufnr)
      if name:match('%.layercfg%.json$') and vim.bo[bufnr].filetype ~= filetype then
        vim.bo[bufnr].filetype = filetype
      end
    end
  end
  return M
end

return M
