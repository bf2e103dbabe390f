-- What the Neovim drivers share: the client set up with the server's command, messages
-- recorded, the attached client, a bounded wait that notices the server quitting, and
-- writing what the driver found to LR_RESULT before Neovim quits.
local env = vim.env
local M = { out = { messages = {} }, attached = nil }

function M.log(...)
  io.stderr:write(table.concat(vim.tbl_map(tostring, { ... }), ' ') .. '\n')
end

vim.notify = function(message, level)
  table.insert(M.out.messages, { message = message, level = level })
  M.log('notify', level, message)
end

vim.opt.runtimepath:prepend(env.LR_CLIENT)
M.lr = require('localroute')
M.lr.setup({ cmd = vim.json.decode(env.LR_CMD) })

vim.api.nvim_create_autocmd('LspAttach', {
  callback = function(ev)
    local client = vim.lsp.get_client_by_id(ev.data.client_id)
    if client and client.name == 'localroute' then M.attached = client end
  end,
})

--- Waits up to `ms` (30 s) for `fn()`; fails naming `what`, or the server's quitting.
function M.wait(what, fn, ms)
  local quit = false
  vim.wait(ms or 30000, function()
    for _, m in ipairs(M.out.messages) do
      quit = quit or m.message:find('quit with exit code', 1, true) ~= nil
    end
    return quit or fn()
  end, 20)
  if quit or not fn() then
    error((quit and 'the server quit while waiting for ' or 'timed out waiting for ') .. what)
  end
end

--- Runs `main` once Neovim has started; records whether it went through.
function M.run(main)
  vim.api.nvim_create_autocmd('VimEnter', {
    once = true,
    nested = true, -- so that :edit fires FileType, where vim.lsp.enable starts the client
    callback = function()
      local ok, err = xpcall(main, debug.traceback)
      M.out.ok = ok
      M.out.error = not ok and err or nil
      vim.fn.writefile({ vim.json.encode(M.out) }, env.LR_RESULT)
      vim.cmd('qa!')
    end,
  })
end

return M
