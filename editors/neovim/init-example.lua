-- A minimal init.lua that uses editors/neovim/layercfg.lua from this folder.
--
--   nvim -u editors/neovim/init-example.lua model.layercfg.json
--
-- In your own config, copy layercfg.lua to ~/.config/nvim/lua/ and keep only the setup call.
-- LAYERCFG_PYTHON, when set, names the interpreter that has layercfg installed.

local here = debug.getinfo(1, 'S').source:sub(2):match('(.*[/\\])') or './'
package.path = here .. '?.lua;' .. package.path

vim.cmd('filetype plugin indent on')
vim.cmd('syntax on')

local python = os.getenv('LAYERCFG_PYTHON')
require('layercfg').setup({
  python = (python ~= nil and python ~= '') and python or nil,
  settings = {
    -- modules = { 'mypkg.layers' },
    -- trustWorkspace = true,
    deepCheck = 'onSave',
  },
  on_attach = function(_, bufnr)
    local function map(lhs, rhs)
      vim.keymap.set('n', lhs, rhs, { buffer = bufnr, silent = true })
    end
    map('K', vim.lsp.buf.hover)
    map('gd', vim.lsp.buf.definition)
    map('gr', vim.lsp.buf.references)
    map('<leader>rn', vim.lsp.buf.rename)
    map('<leader>ca', vim.lsp.buf.code_action)
    map('<leader>f', function()
      (vim.lsp.buf.format or vim.lsp.buf.formatting)()
    end)
    map('<leader>dc', require('layercfg').deep_check)
    vim.bo[bufnr].omnifunc = 'v:lua.vim.lsp.omnifunc'
  end,
})

vim.o.statusline = '%f %m%= %{v:lua.require("layercfg").status()}  %l:%c '
