-- localroute for Neovim 0.11+: starts `localroute serve` with vim.lsp.config/vim.lsp.enable and
-- adds keymaps and commands for review, explain, folder and changed-files review, and starting
-- and stopping local models.
--
--   require('localroute').setup({
--     cmd = { 'localroute', 'serve' },         -- argv of the server
--     settings = { privacy = { globs = { 'internal/**' } } },  -- same shape as config.toml
--     keymaps = { review = '<leader>lr', explain = '<leader>le', clear = '<leader>lc' },
--     bulk = { allow_cloud = false, jobs = nil },  -- :LocalrouteReviewDir / :LocalrouteReviewChanged
--   })
--
-- In visual mode the keymaps act on the selected lines, in normal mode on the whole file.
-- The command names, arguments and results are those of the server's contract
-- (server/localroute/contract.py).
local M = {}

local NAME = 'localroute'
local REQUEST_FAILED = -32803 -- the server has already shown these with window/showMessage
local REQUEST_CANCELLED = -32800
local TASK_COMMANDS = { ['localroute.review'] = 'review', ['localroute.explain'] = 'explain' }

local defaults = {
  cmd = { 'localroute', 'serve' },
  root_markers = { '.localroute.toml', 'localroute.toml', '.git' },
  filetypes = nil, -- nil: every file buffer
  settings = nil, -- sent as initializationOptions and as workspace/configuration 'localroute'
  keymaps = { review = '<leader>lr', explain = '<leader>le', clear = '<leader>lc' },
  float = { border = 'rounded', max_width = 100, max_height = 30 },
  -- Folder and changed-files review stay on local and private-network backends unless
  -- allow_cloud is true (your own configuration only: a project cannot set it).
  bulk = { allow_cloud = false, jobs = nil },
}

M.options = vim.deepcopy(defaults)

local function notify(message, level)
  vim.notify('localroute: ' .. message, level or vim.log.levels.INFO)
end

--- A JSON null (vim.NIL) or a value of another type than expected reads as nil.
local function typed(value, kind)
  if type(value) == kind then
    return value
  end
  return nil
end

local function client_for(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr, name = NAME })[1]
end

--- Any running localroute client (commands that are not about one buffer).
local function any_client()
  return client_for(vim.api.nvim_get_current_buf()) or vim.lsp.get_clients({ name = NAME })[1]
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

--- The consent a privacy refusal offers (error.data.consent), checked field by field.
function M.consent_offer(err)
  if type(err) ~= 'table' or err.code ~= REQUEST_FAILED then
    return nil
  end
  local data = typed(err.data, 'table')
  local offer = data and typed(data.consent, 'table')
  if
    not offer
    or type(offer.token) ~= 'string'
    or offer.token == ''
    or type(offer.backend) ~= 'string'
    or offer.backend == ''
  then
    return nil
  end
  return { token = offer.token, backend = offer.backend, expires_in_s = typed(offer.expires_in_s, 'number') }
end

local function file_label(uri)
  local ok, path = pcall(vim.uri_to_fname, uri or '')
  if not ok or path == '' then
    return tostring(uri)
  end
  return vim.fn.fnamemodify(path, ':~:.')
end

local execute

--- Asks, with vim.ui.select, whether a refused request may go to the backend the refusal
--- names, this once; on yes runs the same command again with the token. Never automatic,
--- never remembered: the next refusal asks again.
local function ask_consent(client, bufnr, command, argument, err, offer, on_result)
  local send = ('Send to %s anyway (this once)'):format(offer.backend)
  local prompt = ('localroute: %s was not sent: %s\nSend this %s request to %s anyway?'):format(
    file_label(argument.uri),
    (err.message or 'refused'):gsub('%s+', ' '),
    TASK_COMMANDS[command],
    offer.backend
  )
  -- "Do not send" first: pickers that preselect the first item (telescope, dressing) must
  -- never send private code on a bare Enter.
  vim.ui.select({ 'Do not send', send }, { prompt = prompt, kind = 'localroute.consent' }, function(_, idx)
    if idx ~= 2 then
      notify(('not sent to %s'):format(offer.backend))
      return
    end
    local again = vim.tbl_extend('force', argument, { consent = offer.token })
    -- one more try only: a second refusal is reported, never asked again
    execute(client, bufnr, command, again, on_result, { no_consent = true })
  end)
end

--- Sends workspace/executeCommand with one object argument; on_result gets the result.
--- Returns the request id (for cancelling).
execute = function(client, bufnr, command, argument, on_result, opts)
  opts = opts or {}
  local params = { command = command, arguments = { argument } }
  local ok, id = client:request('workspace/executeCommand', params, function(err, result)
    if err then
      local offer = not opts.no_consent and TASK_COMMANDS[command] and M.consent_offer(err)
      if offer then
        ask_consent(client, bufnr, command, argument, err, offer, on_result)
      elseif err.code ~= REQUEST_FAILED and err.code ~= REQUEST_CANCELLED then
        notify(err.message or vim.inspect(err), vim.log.levels.ERROR)
      end
      if opts.on_error then
        opts.on_error(err)
      end
      return
    end
    if on_result then
      on_result(result)
    end
  end, bufnr)
  return ok and id or nil
end

--- Shows markdown in a floating window next to the cursor.
function M.show_markdown(markdown)
  local lines = vim.split(markdown or '', '\n', { plain = true })
  local float = vim.tbl_extend('force', { focus_id = 'localroute-explain' }, M.options.float)
  return vim.lsp.util.open_floating_preview(lines, 'markdown', float)
end

local function on_review(result)
  if type(result) == 'table' then
    notify(('review: %d finding(s) from %s @ %s%s'):format(
      typed(result.findings, 'number') or 0,
      typed(result.model, 'string') or '?',
      typed(result.backend, 'string') or '?',
      result.consented == true and ' (sent with your consent)' or ''
    ))
  end
end

local function on_explain(result)
  if type(result) == 'table' and type(result.markdown) == 'string' then
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

--- One line per backend of a `localroute.status` answer: name, locality, state (up, down,
--- starting, stopped), latency when up, models, and why when not up.
function M.status_lines(result)
  local lines = {}
  local backends = type(result) == 'table' and typed(result.backends, 'table') or {}
  for _, b in ipairs(backends) do
    if type(b) == 'table' then
      local state = typed(b.state, 'string') or (b.up == true and 'up' or 'down')
      local latency = typed(b.latency_ms, 'number')
      local models = typed(b.models, 'table') or {}
      local detail = typed(b.detail, 'string')
      local parts = {
        ('%s (%s): %s'):format(tostring(b.name), tostring(typed(b.locality, 'string') or '?'), state),
      }
      if latency and state == 'up' then
        parts[#parts + 1] = ('%d ms'):format(math.floor(latency + 0.5))
      end
      if #models > 0 then
        parts[#parts + 1] = table.concat(vim.tbl_map(tostring, models), ', ')
      end
      if state ~= 'up' and detail and detail ~= '' then
        parts[#parts + 1] = '— ' .. detail
      end
      lines[#lines + 1] = table.concat(parts, ' ')
    end
  end
  for _, problem in ipairs(type(result) == 'table' and typed(result.problems, 'table') or {}) do
    lines[#lines + 1] = 'configuration: ' .. tostring(problem)
  end
  return lines
end

local function with_status(client, callback)
  execute(client, vim.api.nvim_get_current_buf(), 'localroute.status', {}, callback)
end

--- Prints each backend: state, latency, models.
function M.status()
  local client = any_client()
  if not client then
    notify('the language server is not running', vim.log.levels.WARN)
    return
  end
  with_status(client, function(result)
    notify('status\n' .. table.concat(M.status_lines(result), '\n'))
  end)
end

--- Runs a backend's start_command (`start`) or stop_command (`stop`) through the server.
--- Without a name: the backend that has that command, or a choice when several do.
function M.control(action, backend)
  local client = any_client()
  if not client then
    notify('the language server is not running', vim.log.levels.WARN)
    return
  end
  local command = action == 'start' and 'localroute.startBackend' or 'localroute.stopBackend'
  local function go(name)
    notify(('%s %s…'):format(action == 'start' and 'starting' or 'stopping', name))
    execute(client, vim.api.nvim_get_current_buf(), command, { backend = name }, function(result)
      notify(('%s: %s'):format(name, type(result) == 'table' and tostring(result.detail) or 'done'))
    end)
  end
  if backend then
    go(backend)
    return
  end
  local key = action .. '_command'
  with_status(client, function(result)
    local names = {}
    for _, b in ipairs(type(result) == 'table' and typed(result.backends, 'table') or {}) do
      local argv = typed(b[key], 'table')
      if argv and #argv > 0 then
        names[#names + 1] = b.name
      end
    end
    if #names == 0 then
      notify(('no backend has a %s in your user config file'):format(key), vim.log.levels.WARN)
    elseif #names == 1 then
      go(names[1])
    else
      vim.ui.select(names, { prompt = ('localroute: %s which backend?'):format(action) }, function(choice)
        if choice then
          go(choice)
        end
      end)
    end
  end)
end

local bulk_request = nil -- { client = ..., id = ... } of the running folder/changes review

local function bulk_summary(result)
  if type(result) ~= 'table' then
    return 'done'
  end
  local n = function(key)
    return typed(result[key], 'number') or 0
  end
  local used = {}
  for name, count in pairs(typed(result.backends, 'table') or {}) do
    used[#used + 1] = ('%s ×%d'):format(name, count)
  end
  table.sort(used)
  local text = ('reviewed %d of %d file(s): %d finding(s)%s'):format(
    n('done') - n('refused') - n('not_reviewed'),
    n('files'),
    n('findings'),
    #used > 0 and (' (' .. table.concat(used, ', ') .. ')') or ''
  )
  if n('refused') > 0 then
    text = text .. ('; %d refused'):format(n('refused'))
  end
  if n('not_reviewed') > 0 then
    text = text .. ('; %d not reviewed'):format(n('not_reviewed'))
  end
  return text
end

--- Reviews files through `localroute.reviewFiles` (argument: uris or glob); findings become
--- diagnostics, and the quickfix list gets localroute's diagnostics (`:copen`).
function M.review_files(argument, title, on_done)
  local client = any_client()
  if not client then
    notify('the language server is not running (open a file of the project first)', vim.log.levels.WARN)
    return
  end
  local bulk = M.options.bulk or {}
  argument = vim.tbl_extend('force', argument, { allowCloud = bulk.allow_cloud == true, jobs = bulk.jobs })
  notify(('%s: %s'):format(title, bulk.allow_cloud and 'cloud allowed' or 'local backends only'))
  local id
  id = execute(client, vim.api.nvim_get_current_buf(), 'localroute.reviewFiles', argument, function(result)
    if bulk_request and bulk_request.id == id then
      bulk_request = nil
    end
    vim.diagnostic.setqflist({
      namespace = vim.lsp.diagnostic.get_namespace(client.id),
      open = false,
      title = 'localroute: ' .. title,
    })
    notify(('%s: %s (:copen lists them)'):format(title, bulk_summary(result)))
    if on_done then
      on_done(result)
    end
  end, {
    on_error = function()
      if bulk_request and bulk_request.id == id then
        bulk_request = nil
      end
    end,
  })
  bulk_request = id and { client = client, id = id } or nil
end

--- Cancels a running folder or changed-files review.
function M.cancel()
  if bulk_request then
    bulk_request.client:cancel_request(bulk_request.id)
    bulk_request = nil
    notify('review cancelled')
  else
    notify('nothing to cancel')
  end
end

--- Reviews every file under `dir` (default: the current directory).
function M.review_dir(dir, on_done)
  local path = vim.fn.fnamemodify(vim.fn.expand(dir ~= nil and dir ~= '' and dir or vim.fn.getcwd()), ':p')
  if vim.fn.isdirectory(path) ~= 1 then
    notify(('not a directory: %s'):format(path), vim.log.levels.ERROR)
    return
  end
  path = path:gsub('/$', '')
  M.review_files({ uris = { vim.uri_from_fname(path) } }, 'review ' .. vim.fn.fnamemodify(path, ':~:.'), on_done)
end

-- core.fsmonitor off: a repository's own config must not make listing its changes run a
-- program of its choosing.
local function git(args, cwd)
  local argv = vim.list_extend({ 'git', '-c', 'core.fsmonitor=false' }, args)
  local out = vim.system(argv, { cwd = cwd, text = true }):wait()
  return out.code == 0, out.stdout or '', out.stderr or ''
end

local function nul_split(text)
  return vim.tbl_filter(function(s)
    return s ~= ''
  end, vim.split(text, '\0', { plain = true }))
end

--- The files changed since HEAD (committed or not, staged or not) and the untracked ones,
--- absolute; deleted files are skipped. Runs git (vim.system) in `cwd`.
function M.changed_files(cwd)
  local ok, top, err = git({ 'rev-parse', '--show-toplevel' }, cwd)
  if not ok then
    return nil, 'not a git repository: ' .. vim.trim(err)
  end
  top = vim.trim(top)
  local changed_ok, changed = git({ 'diff', '--no-ext-diff', '--name-only', '-z', 'HEAD' }, top)
  if not changed_ok then
    -- no commit yet: everything staged is new
    changed_ok, changed, err = git({ 'diff', '--no-ext-diff', '--name-only', '-z', '--cached' }, top)
    if not changed_ok then
      return nil, 'git diff failed: ' .. vim.trim(err)
    end
  end
  local untracked_ok, untracked
  untracked_ok, untracked, err = git({ 'ls-files', '-z', '--others', '--exclude-standard' }, top)
  if not untracked_ok then
    return nil, 'git ls-files failed: ' .. vim.trim(err)
  end
  local files, seen = {}, {}
  for _, rel in ipairs(vim.list_extend(nul_split(changed), nul_split(untracked))) do
    local full = vim.fs.joinpath(top, rel)
    local stat = vim.uv.fs_stat(full)
    if not seen[full] and stat and stat.type == 'file' then
      seen[full] = true
      files[#files + 1] = full
    end
  end
  return files, nil
end

--- Reviews the files that git says changed (see changed_files).
function M.review_changed(on_done)
  local files, err = M.changed_files(vim.fn.getcwd())
  if not files then
    notify(err, vim.log.levels.ERROR)
    return
  end
  if #files == 0 then
    notify('no changed files to review (deleted files are skipped)')
    return
  end
  local uris = vim.tbl_map(vim.uri_from_fname, files)
  M.review_files({ uris = uris }, ('review %d changed file(s)'):format(#files), on_done)
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
  M.options.bulk = vim.tbl_extend('force', defaults.bulk, opts.bulk or {})

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
  -- explanation opens in a float there too, and a refusal offers consent the same way.
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

  local subcommands = {
    review = function(c)
      M.review({ range = c.range > 0 and M.lines_range(c.line1, c.line2) or nil })
    end,
    explain = function(c)
      M.explain({ range = c.range > 0 and M.lines_range(c.line1, c.line2) or nil })
    end,
    clear = function()
      M.clear()
    end,
    status = function()
      M.status()
    end,
    start = function(c)
      M.control('start', c.fargs[2])
    end,
    stop = function(c)
      M.control('stop', c.fargs[2])
    end,
    cancel = function()
      M.cancel()
    end,
  }
  vim.api.nvim_create_user_command('Localroute', function(c)
    local action = subcommands[c.fargs[1]]
    if not action then
      notify('usage: :[range]Localroute review|explain|clear|status|start [backend]|stop [backend]|cancel', vim.log.levels.ERROR)
      return
    end
    action(c)
  end, {
    nargs = '+',
    range = true,
    desc = 'localroute: review, explain, clear, status, start/stop local models, cancel',
    complete = function(arglead, line)
      -- only the subcommand is completed (the first word after the command)
      local before = line:sub(1, #line - #arglead)
      if #vim.split(before, '%s+', { trimempty = true }) > 1 then
        return {}
      end
      local names = vim.tbl_filter(function(name)
        return vim.startswith(name, arglead)
      end, vim.tbl_keys(subcommands))
      table.sort(names)
      return names
    end,
  })
  vim.api.nvim_create_user_command('LocalrouteReviewDir', function(c)
    M.review_dir(c.args)
  end, { nargs = '?', complete = 'dir', desc = 'localroute: review every file under a directory' })
  vim.api.nvim_create_user_command('LocalrouteReviewChanged', function()
    M.review_changed()
  end, { nargs = 0, desc = 'localroute: review the files git says changed (and untracked ones)' })
end

return M
