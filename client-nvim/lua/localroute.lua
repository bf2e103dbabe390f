-- localroute for Neovim 0.11+: starts `localroute serve` with vim.lsp.config/vim.lsp.enable and
-- adds keymaps and a :Localroute command for review and explain.
--
--   require('localroute').setup({
--     cmd = { 'localroute', 'serve' },         -- argv of the server
--     settings = { privacy = { globs = { 'internal/**' } } },  -- same shape as config.toml
--     keymaps = { review = '<leader>lr', explain = '<leader>le', clear = '<leader>lc' },
--   })
--
-- In visual mode the keymaps act on the selected lines, in normal mode on the whole file.
local M = {}

local NAME = 'localroute'
local REQUEST_FAILED = -32803 -- the server has already shown these with window/showMessage
local REQUEST_CANCELLED = -32800

local defaults = {
  cmd = { 'localroute', 'serve' },
  root_markers = { '.localroute.toml', 'localroute.toml', '.git' },
  filetypes = nil, -- nil: every file buffer
  settings = nil, -- sent as initializationOptions and as workspace/configuration 'localroute'
  keymaps = { review = '<leader>lr', explain = '<leader>le', clear = '<leader>lc' },
  float = { border = 'rounded', max_width = 100, max_height = 30 },
}

M.options = vim.deepcopy(defaults)

local function notify(message, level)
  vim.notify('localroute: ' .. message, level or vim.log.levels.INFO)
end

local function client_for(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr, name = NAME })[1]
end

--- Lines first..last (1-based, inclusive) as an LSP range: 0-based, ending at the start of the
--- line after the selection.
function M.lines_range(first, last)
  if first > last then
    first, last = last, first
  end
  return { start = { line = first - 1, character = 0 }, ['end'] = { line = last, character = 0 } }
end

--- The visual selection as a range (and leaves visual mode), or nil outside visual mode.
local function visual_range()
  if not vim.fn.mode():match('^[vV\22]') then
    return nil
  end
  local range = M.lines_range(vim.fn.line('v'), vim.fn.line('.'))
  vim.api.nvim_feedkeys(vim.keycode('<Esc>'), 'n', false)
  return range
end

--- Sends workspace/executeCommand with one object argument; on_result gets the result.
local function execute(client, bufnr, command, argument, on_result)
  local params = { command = command, arguments = { argument } }
  client:request('workspace/executeCommand', params, function(err, result)
    if err then
      if err.code ~= REQUEST_FAILED and err.code ~= REQUEST_CANCELLED then
        notify(err.message or vim.inspect(err), vim.log.levels.ERROR)
      end
      return
    end
    if on_result then
      on_result(result)
    end
  end, bufnr)
end

--- Shows markdown in a floating window next to the cursor.
function M.show_markdown(markdown)
  local lines = vim.split(markdown or '', '\n', { plain = true })
  local float = vim.tbl_extend('force', { focus_id = 'localroute-explain' }, M.options.float)
  return vim.lsp.util.open_floating_preview(lines, 'markdown', float)
end

local function on_review(result)
  if type(result) == 'table' then
    notify(('review: %d finding(s) from %s @ %s'):format(
      result.findings or 0, result.model or '?', result.backend or '?'))
  end
end

local function on_explain(result)
  if type(result) == 'table' and result.markdown then
    M.show_markdown(result.markdown)
  end
end

local function run(command, on_result, opts)
  opts = opts or {}
  local bufnr = opts.bufnr or vim.api.nvim_get_current_buf()
  local range = opts.range or visual_range()
  local client = client_for(bufnr)
  if not client then
    notify('the language server is not attached to this buffer', vim.log.levels.WARN)
    return
  end
  local argument = { uri = vim.uri_from_bufnr(bufnr), range = range, refresh = opts.refresh }
  execute(client, bufnr, command, argument, on_result)
end

--- Reviews the visual selection, opts.range, or the whole file; findings become diagnostics.
function M.review(opts)
  run('localroute.review', on_review, opts)
end

--- Explains the visual selection, opts.range, or the whole file, in a floating window.
--- Hover (K) inside the explained lines shows the explanation again.
function M.explain(opts)
  run('localroute.explain', on_explain, opts)
end

--- Removes localroute's diagnostics and explanations from the buffer.
function M.clear(opts)
  opts = opts or {}
  local bufnr = opts.bufnr or vim.api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if client then
    execute(client, bufnr, 'localroute.clear', { uri = vim.uri_from_bufnr(bufnr) })
  end
end

--- Prints each backend: up/down, latency, models.
function M.status()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_for(bufnr) or vim.lsp.get_clients({ name = NAME })[1]
  if not client then
    notify('the language server is not running', vim.log.levels.WARN)
    return
  end
  execute(client, bufnr, 'localroute.status', {}, function(result)
    local lines = {}
    for _, b in ipairs(result and result.backends or {}) do
      lines[#lines + 1] = ('%s (%s): %s%s %s'):format(b.name, b.locality, b.up and 'up' or 'down',
        b.latency_ms and (' %d ms'):format(b.latency_ms) or '', table.concat(b.models or {}, ', '))
    end
    notify('status\n' .. table.concat(lines, '\n'))
  end)
end

local function set_keymaps(bufnr)
  local maps = M.options.keymaps or {}
  local function map(modes, lhs, fn, desc)
    if lhs then
      vim.keymap.set(modes, lhs, fn, { buffer = bufnr, desc = 'localroute: ' .. desc })
    end
  end
  map({ 'n', 'x' }, maps.review, M.review, 'review selection / file')
  map({ 'n', 'x' }, maps.explain, M.explain, 'explain selection / file')
  map('n', maps.clear, M.clear, 'clear findings and explanations')
end

function M.setup(opts)
  opts = opts or {}
  M.options = vim.tbl_extend('force', vim.deepcopy(defaults), opts)
  if opts.keymaps ~= nil then
    M.options.keymaps = opts.keymaps and vim.tbl_extend('force', defaults.keymaps, opts.keymaps)
  end
  M.options.float = vim.tbl_extend('force', defaults.float, opts.float or {})

  local o = M.options
  vim.lsp.config(NAME, {
    cmd = o.cmd,
    root_markers = o.root_markers,
    filetypes = o.filetypes,
    init_options = o.settings,
    settings = o.settings and { localroute = o.settings } or nil,
  })
  vim.lsp.enable(NAME)

  -- Code actions ("Explain selection — coder @ local") run their command through these, so the
  -- explanation opens in a float there too.
  local handlers = { ['localroute.review'] = on_review, ['localroute.explain'] = on_explain }
  for command, on_result in pairs(handlers) do
    vim.lsp.commands[command] = function(cmd, ctx)
      local client = vim.lsp.get_client_by_id(ctx.client_id)
      if client then
        execute(client, ctx.bufnr, command, (cmd.arguments or {})[1] or {}, on_result)
      end
    end
  end

  local group = vim.api.nvim_create_augroup('localroute', { clear = true })
  vim.api.nvim_create_autocmd('LspAttach', {
    group = group,
    callback = function(ev)
      local client = vim.lsp.get_client_by_id(ev.data.client_id)
      if client and client.name == NAME then
        set_keymaps(ev.buf)
      end
    end,
  })

  local subcommands = { review = M.review, explain = M.explain, clear = M.clear, status = M.status }
  vim.api.nvim_create_user_command('Localroute', function(c)
    local action = subcommands[c.fargs[1]]
    if not action then
      notify('usage: :[range]Localroute review|explain|clear|status', vim.log.levels.ERROR)
      return
    end
    action({ range = c.range > 0 and M.lines_range(c.line1, c.line2) or nil })
  end, {
    nargs = 1,
    range = true,
    desc = 'localroute: review, explain, clear, status',
    complete = function()
      return vim.tbl_keys(subcommands)
    end,
  })
end

return M
