local env = vim.env
local driver = dofile(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)) .. '/driver.lua')
local out, log, wait, lr = driver.out, driver.log, driver.wait, driver.lr
out.prompts, out.steps = {}, {}

-- The consent prompt: what it asked, and the answer the test scripted (1 = do not, 2 = send).
local answers = {}
vim.ui.select = function(items, opts, on_choice)
  local answer = table.remove(answers, 1)
  table.insert(out.prompts,
    { items = items, prompt = opts.prompt, kind = opts.kind, answer = answer })
  log('ui.select', opts.prompt, vim.inspect(items), 'answer', tostring(answer))
  vim.schedule(function() on_choice(answer and items[answer] or nil, answer) end)
end

--- The text of the first notification containing `needle` that came after message `after`.
local function message_after(after, needle)
  for i = after + 1, #out.messages do
    if out.messages[i].message:find(needle, 1, true) then return out.messages[i].message end
  end
  return nil
end

local function await_message(needle, ms)
  local mark = #out.messages
  return function()
    wait('a message with ' .. needle, function() return message_after(mark, needle) ~= nil end, ms)
    return message_after(mark, needle)
  end
end

--- Relative path → localroute diagnostic messages, over every buffer (loaded or not).
local function diagnostics()
  local found = {}
  for _, d in ipairs(vim.diagnostic.get(nil)) do
    if d.source == 'localroute' then
      local full = vim.api.nvim_buf_get_name(d.bufnr)
      local name = vim.fs.relpath(env.LR_WORKSPACE, full) or full
      found[name] = found[name] or {}
      table.insert(found[name], d.message)
    end
  end
  return found
end

local function step(name, fn)
  log('step', name)
  out.steps[#out.steps + 1] = name
  fn()
end

local function main()
  vim.cmd.edit(vim.fn.fnameescape(env.LR_WORKSPACE .. '/calc.py'))
  wait('the client to attach', function() return driver.attached ~= nil end)

  step('status with a backend down', function()
    local done = await_message('localroute: status')
    vim.cmd('Localroute status')
    out.status = done()
  end)

  step('review dir', function()
    local done = await_message('review pkg: reviewed')
    vim.cmd('LocalrouteReviewDir pkg')
    out.review_dir = done()
    out.qflist = #vim.fn.getqflist()
    out.after_dir = diagnostics()
  end)

  step('review changed', function()
    out.changed_files = vim.tbl_map(function(p) return vim.fs.relpath(env.LR_WORKSPACE, p) end,
      lr.changed_files(env.LR_WORKSPACE))
    local done = await_message('changed file(s): reviewed')
    vim.cmd('LocalrouteReviewChanged')
    out.review_changed = done()
    out.after_changed = diagnostics()
  end)

  step('stop local', function()
    local done = await_message('local: ')
    vim.cmd('Localroute stop local')
    out.stop = done()
    local status = await_message('localroute: status')
    vim.cmd('Localroute status')
    out.status_after_stop = status()
  end)

  step('consent', function()
    vim.cmd.edit(vim.fn.fnameescape(env.LR_WORKSPACE .. '/secrets/db.py'))
    local buf = vim.api.nvim_get_current_buf()
    wait('the client to attach to db.py', function()
      return #vim.lsp.get_clients({ bufnr = buf, name = 'localroute' }) > 0
    end)
    -- 1. declined: nothing is sent
    answers = { 1 }
    local declined = await_message('not sent to cloud')
    lr.review()
    out.declined = declined()
    -- 2. given, this once: the review goes to the cloud backend
    answers = { 2 }
    local given = await_message('sent with your consent')
    lr.review()
    out.given = given()
    out.db_diagnostics = diagnostics()['secrets/db.py']
    -- 3. not remembered: the next review is refused and asks again
    answers = { 1 }
    local again = await_message('not sent to cloud')
    lr.review()
    out.asked_again = again()
  end)
end

driver.run(main)
