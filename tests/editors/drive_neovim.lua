-- Drives Neovim's own LSP client against the real `layercfg lsp`, for test_real_clients.py.
--
-- Run after editors/neovim/init-example.lua (which sets the server up from LAYERCFG_PYTHON):
--   nvim --headless -u init-example.lua -c 'luafile drive_neovim.lua'
-- $LAYERCFG_DRIVER_PARAMS names a JSON file with the file to open, the output path, the waits
-- and the diagnostics to wait for. Whatever happens, the observations are written to the output
-- file as JSON and Neovim quits; the Python test makes the assertions.

local params = vim.fn.json_decode(table.concat(vim.fn.readfile(os.getenv('LAYERCFG_DRIVER_PARAMS')), '\n'))
local out = { phases = {}, statuses = {}, log = {} }
local started = vim.loop.hrtime()

local function elapsed()
  return (vim.loop.hrtime() - started) / 1e9
end

local function phase(name, ok)
  table.insert(out.phases, { name = name, ok = ok, seconds = elapsed() })
  return ok
end

-- What the server logs (window/logMessage) helps explain a failure.
vim.lsp.handlers['window/logMessage'] = function(_, result)
  if type(result) == 'table' and type(result.message) == 'string' then
    table.insert(out.log, result.message)
  end
end
-- The status notifications in order: a cached catalog goes missing -> ready, never building.
vim.api.nvim_create_autocmd('User', {
  pattern = 'LayercfgStatus',
  callback = function()
    for _, status in pairs(require('layercfg')._status) do
      local last = out.statuses[#out.statuses]
      if status.catalog ~= last then
        table.insert(out.statuses, status.catalog)
      end
    end
  end,
})

local function layercfg_client(bufnr)
  for _, client in pairs(vim.lsp.buf_get_clients(bufnr)) do
    if client.name == 'layercfg' then
      return client
    end
  end
  return nil
end

local function diagnostics(bufnr)
  local result = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    table.insert(result, {
      code = d.code,
      source = d.source,
      severity = d.severity,
      message = d.message,
      lnum = d.lnum,
      col = d.col,
      end_lnum = d.end_lnum,
      end_col = d.end_col,
    })
  end
  table.sort(result, function(a, b)
    return a.lnum < b.lnum or (a.lnum == b.lnum and a.col < b.col)
  end)
  return result
end

-- The sorted codes of the layercfg diagnostics (the deep check's have source `keras`).
local function codes(bufnr)
  local seen, result = {}, {}
  for _, d in ipairs(diagnostics(bufnr)) do
    if d.source == 'layercfg' and not seen[d.code] then
      seen[d.code] = true
      table.insert(result, tostring(d.code))
    end
  end
  table.sort(result)
  return result
end

-- Waits until the diagnostics have the layercfg `wanted_codes` (when given) and differ from
-- `before` (when given), then until they stay the same for a second.
local function wait_diagnostics(bufnr, wanted_codes, before)
  local wanted = nil
  if wanted_codes then
    wanted = vim.deepcopy(wanted_codes)
    table.sort(wanted)
  end
  local arrived = vim.wait(params.diagnostics_ms, function()
    return (wanted == nil or vim.deep_equal(codes(bufnr), wanted))
      and (before == nil or not vim.deep_equal(diagnostics(bufnr), before))
  end, 50)
  if not arrived then
    return false
  end
  local deadline = vim.loop.hrtime() + params.diagnostics_ms * 1e6
  while vim.loop.hrtime() < deadline do
    local snapshot = diagnostics(bufnr)
    local changed = vim.wait(1000, function()
      return not vim.deep_equal(diagnostics(bufnr), snapshot)
    end, 50)
    if not changed then
      return true
    end
  end
  return false
end

local function request(bufnr, method, line, character)
  local request_params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = line, character = character },
  }
  local responses, err = vim.lsp.buf_request_sync(bufnr, method, request_params, params.request_ms)
  if not responses then
    return { error = tostring(err) }
  end
  for _, response in pairs(responses) do
    if response.err then
      return { error = vim.inspect(response.err) }
    end
    return { result = response.result == nil and vim.NIL or response.result }
  end
  return { error = 'no client answered' }
end

local function run()
  -- The fast checks only: the deep check's diagnostics would come and go with the worker.
  require('layercfg').update_settings({ deepCheck = 'off' })
  vim.cmd('edit ' .. vim.fn.fnameescape(params.file))
  local bufnr = vim.api.nvim_get_current_buf()
  out.filetype = vim.bo[bufnr].filetype
  out.omnifunc_before_attach = vim.bo[bufnr].omnifunc

  if not phase('attach', vim.wait(params.attach_ms, function()
    return layercfg_client(bufnr) ~= nil
  end, 50)) then
    return
  end
  local client = layercfg_client(bufnr)
  out.offset_encoding = client.offset_encoding
  out.omnifunc = vim.bo[bufnr].omnifunc

  local ready = vim.wait(params.ready_ms, function()
    return require('layercfg').status(bufnr):match('^Keras ') ~= nil
  end, 50)
  out.status = require('layercfg').status(bufnr)
  if not phase('catalog ready', ready) then
    return
  end

  local arrived = wait_diagnostics(bufnr, params.codes_before, nil)
  out.diagnostics_before = diagnostics(bufnr)
  if not phase('diagnostics', arrived) then
    return
  end

  for name, at in pairs(params.requests) do
    out[name] = request(bufnr, at.method, at.line, at.character)
  end
  phase('requests', true)

  -- Edits as a user makes them: the client sends incremental changes, the diagnostics follow.
  out.edits = {}
  for _, edit in ipairs(params.edits) do
    local before = diagnostics(bufnr)
    vim.api.nvim_buf_set_text(bufnr, edit.line, edit.start_col, edit.line, edit.end_col, { edit.text })
    local result = { name = edit.name }
    result.ok = wait_diagnostics(bufnr, edit.codes_after, before)
    result.line = vim.api.nvim_buf_get_lines(bufnr, edit.line, edit.line + 1, false)[1]
    result.diagnostics = diagnostics(bufnr)
    if edit.hover then
      result.hover = request(bufnr, 'textDocument/hover', edit.hover.line, edit.hover.character)
    end
    table.insert(out.edits, result)
  end
  phase('edits', true)
end

local ok, err = xpcall(run, debug.traceback)
if not ok then
  out.error = tostring(err)
end
out.seconds = elapsed()
vim.fn.writefile({ vim.fn.json_encode(out) }, params.out)

vim.lsp.stop_client(vim.lsp.get_active_clients())
vim.wait(params.stop_ms, function()
  return #vim.lsp.get_active_clients() == 0
end, 50)
vim.cmd('qa!')
