local env = vim.env
local driver = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/driver.lua')
local out, log, wait, lr = driver.out, driver.log, driver.wait, driver.lr

local function floats()
  local found = {}
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(win).relative ~= '' then
      table.insert(found, win)
    end
  end
  return found
end

local function float_text()
  wait('a floating window', function() return #floats() > 0 end)
  local win = floats()[1]
  local lines = vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(win), 0, -1, false)
  for _, w in ipairs(floats()) do
    vim.api.nvim_win_close(w, true)
  end
  return table.concat(lines, '\n')
end

local function request(buf, method, params)
  local responses, err = vim.lsp.buf_request_sync(buf, method, params, 15000)
  assert(responses, ('%s: %s'):format(method, err))
  local _, response = next(responses)
  assert(response and not response.err, ('%s failed: %s'):format(method, vim.inspect(response)))
  return response.result
end

local function main()
  vim.cmd.edit(vim.fn.fnameescape(env.LR_FILE))
  local buf = vim.api.nvim_get_current_buf()
  wait('the client to attach', function() return driver.attached ~= nil end)
  out.root_dir = driver.attached.root_dir
  out.commands = driver.attached.server_capabilities.executeCommandProvider.commands
  local uri = vim.uri_from_bufnr(buf)

  -- code actions on lines 1-3
  out.actions = {}
  local actions = request(buf, 'textDocument/codeAction', {
    textDocument = { uri = uri },
    range = lr.lines_range(1, 3),
    context = { diagnostics = {} },
  })
  for _, action in ipairs(actions or {}) do
    table.insert(out.actions, {
      title = action.title, kind = action.kind, command = action.command,
    })
  end

  -- review lines 1-3: visual line selection, then the module's keymap
  vim.api.nvim_feedkeys(vim.keycode('ggVjj<leader>lr'), 'x', false)
  out.mode_after_review = vim.fn.mode()
  wait('review diagnostics', function() return #vim.diagnostic.get(buf) > 0 end)
  out.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(out.diagnostics, {
      lnum = d.lnum, end_lnum = d.end_lnum, message = d.message, source = d.source,
      severity = d.severity,
    })
  end

  -- explain lines 1-3 the same way: the answer opens in a float; then hover inside the range
  vim.api.nvim_feedkeys(vim.keycode('ggVjj<leader>le'), 'x', false)
  out.explain_float = float_text()
  local hover = request(buf, 'textDocument/hover', {
    textDocument = { uri = uri },
    position = { line = 1, character = 4 },
  })
  out.hover = hover and hover.contents
  out.hover_outside = request(buf, 'textDocument/hover', {
    textDocument = { uri = uri },
    position = { line = 6, character = 4 },
  })

  -- "Explain file" through Neovim's own code-action flow (client:exec_cmd)
  vim.lsp.buf.code_action({
    filter = function(action) return action.title:match('^Explain file') ~= nil end,
    apply = true,
  })
  out.code_action_float = float_text()

  -- an error response is shown with vim.notify
  lr.review({ range = lr.lines_range(51, 52) })
  wait('an error notification', function()
    for _, m in ipairs(out.messages) do
      if m.message:find('past the end', 1, true) then return true end
    end
    return false
  end)
end

driver.run(main)
