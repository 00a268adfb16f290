-- The Neovim half of scripts/test-nvim.sh (read that first): runs inside
-- `nvim --headless -u NONE`, so nothing from the user's configuration is loaded.
--
-- It loads the README's Neovim snippet (the ```lua block after the HTML comment
-- `<!-- nvim-snippet: ... -->` that names this Neovim's version: "0.7" or "0.8"),
-- turns filetype detection on and edits $MLENG_TEST_FILE, so the snippet's FileType
-- autocommand starts `mleng server` exactly as it would in a user's editor. Then, through
-- Neovim's own LSP client:
--   1. waits for the diagnostics and prints them (vim.diagnostic.get), checking code,
--      severity, message and that the byte column Neovim computed from the server's UTF-16
--      column points at the flagged call (the line has an accent and an emoji before it);
--   2. hover (textDocument/hover) at the TRN004 diagnostic, with the cursor there, as K does;
--   3. code actions (textDocument/codeAction) for that range, as vim.lsp.buf.code_action()
--      builds the request; applies TRN004's quick fix and waits for TRN004 to go while the
--      other findings stay (the edit and Neovim's incremental didChange round trip);
--      resolves "Fix all" (codeAction/resolve), applies it and waits for ARC002 (safe fix)
--      to go while SEC001 (unsafe fix) stays;
--   4. :write (didSave), then stops the client (shutdown + exit) and checks that the server
--      exited by itself with status 0 (written by the `mleng` wrapper test-nvim.sh puts on PATH).
-- Any vim.notify at WARN or above (LSP errors, "client quit with exit code") fails the test.
-- Exits 0 when every check passed, 1 when one failed, 2 on an error in this script.

local out = function(s)
  io.stdout:write(s .. "\n")
end
local passes, failures = 0, 0
local function check(ok, what, detail)
  if ok then
    passes = passes + 1
    out("ok    " .. what)
  else
    failures = failures + 1
    out("FAIL  " .. what .. (detail and (": " .. detail) or ""))
  end
  return ok
end

local notices = {}
local notify = vim.notify
vim.notify = function(msg, level, opts)
  if level and level >= vim.log.levels.WARN then
    table.insert(notices, tostring(msg))
  end
  return notify(msg, level, opts)
end

local function severity_name(s)
  return ({ "ERROR", "WARN", "INFO", "HINT" })[s] or tostring(s)
end

local function find(diags, code)
  for _, d in ipairs(diags) do
    if d.code == code then
      return d
    end
  end
end

-- The client API changed between 0.7 and 0.11: methods became `client:method()`, the
-- buffer's clients moved to vim.lsp.get_clients, line diagnostics to vim.diagnostic.
local new_api = vim.fn.has("nvim-0.11") == 1
local function request(client, method, params, buf)
  if new_api then
    return client:request_sync(method, params, 15000, buf)
  end
  return client.request_sync(method, params, 15000, buf)
end
local function buffer_clients(buf)
  if vim.lsp.get_clients then
    return vim.lsp.get_clients({ bufnr = buf })
  end
  return vim.lsp.buf_get_clients(buf)
end
local function line_diagnostics(buf, lnum)
  if vim.fn.has("nvim-0.8") == 0 then
    return vim.lsp.diagnostic.get_line_diagnostics(buf, lnum)
  end
  return vim.tbl_map(function(d)
    local lsp = d.user_data and d.user_data.lsp
    if lsp and lsp.range then
      return lsp
    end
    return {
      range = { start = { line = d.lnum, character = d.col }, ["end"] = { line = d.end_lnum, character = d.end_col } },
      severity = d.severity,
      message = d.message,
      code = d.code,
      source = d.source,
    }
  end, vim.diagnostic.get(buf, { lnum = lnum }))
end
local uv = vim.uv or vim.loop

local function main()
  local readme = assert(vim.env.MLENG_README, "MLENG_README is not set")
  local file = assert(vim.env.MLENG_TEST_FILE, "MLENG_TEST_FILE is not set")
  local want = vim.fn.has("nvim-0.8") == 1 and "0.8" or "0.7"
  local v = vim.version()
  out(string.format("Neovim %d.%d.%d: the README's %s snippet", v.major, v.minor, v.patch, want))

  -- 0. The README's snippet, as a user would put it in init.lua.
  local text = table.concat(vim.fn.readfile(readme), "\n")
  local snippet
  for marker, block in text:gmatch("<!%-%- nvim%-snippet: ([^\n]-)%-%->%s*```lua\n(.-)\n```") do
    if marker:find(want, 1, true) then
      snippet = block
    end
  end
  assert(snippet, "README: no ```lua block after a <!-- nvim-snippet: ... " .. want .. " ... --> line")
  assert(loadstring(snippet, "README snippet for " .. want))()
  vim.cmd("filetype on")

  local started = uv.hrtime()
  vim.cmd("edit! " .. vim.fn.fnameescape(file))
  local buf = vim.api.nvim_get_current_buf()
  check(vim.bo[buf].filetype == "python", "filetype detected as python", vim.bo[buf].filetype)

  local client
  local attached = vim.wait(10000, function()
    for _, c in pairs(buffer_clients(buf)) do
      if c.name == "mleng" and c.initialized then
        client = c
        return true
      end
    end
    return false
  end, 20)
  if not check(attached, "the snippet started and attached `mleng server`") then
    return
  end
  out("      root_dir " .. tostring(client.config.root_dir))

  -- 1. Diagnostics.
  local got = vim.wait(30000, function()
    local diags = vim.diagnostic.get(buf)
    return find(diags, "TRN004") ~= nil and find(diags, "SEC001") ~= nil and find(diags, "ARC002") ~= nil
  end, 20)
  local diags = vim.diagnostic.get(buf)
  out(string.format("      %d diagnostics after %.0f ms:", #diags, (uv.hrtime() - started) / 1e6))
  for _, d in ipairs(diags) do
    out(string.format("        %d:%d %s %s [%s] %s", d.lnum + 1, d.col + 1, severity_name(d.severity),
      tostring(d.code), tostring(d.source), d.message))
  end
  if not check(got, "TRN004, SEC001 and ARC002 published") then
    return
  end
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, true)
  local trn, sec = find(diags, "TRN004"), find(diags, "SEC001")
  check(trn.severity == vim.diagnostic.severity.ERROR, "TRN004 is an error", severity_name(trn.severity))
  check(trn.message:find("zero_grad", 1, true) ~= nil, "TRN004's message names zero_grad", trn.message)
  check(trn.source == "mleng", "source is mleng", tostring(trn.source))
  check(lines[trn.lnum + 1]:sub(trn.col + 1):find("^loss%.backward%(%)") ~= nil,
    "TRN004 starts at loss.backward()", lines[trn.lnum + 1]:sub(trn.col + 1))
  check(sec.severity == vim.diagnostic.severity.WARN, "SEC001 is a warning", severity_name(sec.severity))
  check(sec.message:find("weights_only=False", 1, true) ~= nil, "SEC001's message names weights_only=False",
    sec.message)
  local sec_text = lines[sec.lnum + 1]:sub(sec.col + 1, sec.end_col)
  check(sec.end_lnum == sec.lnum and sec_text == "weights_only=False",
    "SEC001's range (after an accent and an emoji) is weights_only=False", sec_text)

  -- 2. Hover, from the cursor on the TRN004 diagnostic (what `K` sends).
  vim.api.nvim_win_set_cursor(0, { trn.lnum + 1, trn.col })
  local hover = request(client, "textDocument/hover", vim.lsp.util.make_position_params(0, client.offset_encoding), buf)
  local value = hover and hover.result and hover.result.contents and hover.result.contents.value or ""
  check(hover and not hover.err and value:find("TRN004", 1, true) ~= nil, "hover shows TRN004",
    vim.inspect(hover and (hover.err or hover.result)))
  out("      hover: " .. (value:match("[^\n]+") or "") .. " ... (" .. #value .. " chars)")

  -- 3. Code actions for the diagnostic's range, as vim.lsp.buf.code_action() asks in 0.7.
  local params = vim.lsp.util.make_range_params(0, client.offset_encoding)
  params.context = { diagnostics = line_diagnostics(buf, trn.lnum) }
  local reply = request(client, "textDocument/codeAction", params, buf)
  local actions = reply and reply.result or {}
  check(reply and not reply.err and #actions > 0, "code actions returned", vim.inspect(reply))
  local fix, noqa, fix_all
  for _, a in ipairs(actions) do
    out("      action: " .. a.title .. " (" .. tostring(a.kind) .. ")")
    if a.title:find("^TRN004: ") then
      fix = a
    elseif a.title == "Disable TRN004 for this line" then
      noqa = a
    elseif a.kind == "source.fixAll.mleng" then
      fix_all = a
    end
  end
  check(noqa ~= nil, "\"Disable TRN004 for this line\" offered")
  if check(fix ~= nil and fix.edit ~= nil, "TRN004's quick fix offered, with its edit") then
    vim.lsp.util.apply_workspace_edit(fix.edit, client.offset_encoding)
    local fixed_lines = vim.api.nvim_buf_get_lines(buf, 0, -1, true)
    out("      after the fix: " .. table.concat(fixed_lines, "\n                     ", trn.lnum - 1, trn.lnum + 2))
    local gone = vim.wait(15000, function()
      local now = vim.diagnostic.get(buf)
      return find(now, "TRN004") == nil and find(now, "SEC001") ~= nil
    end, 20)
    check(gone, "after the edit (didChange) TRN004 is gone and SEC001 stays",
      vim.inspect(vim.tbl_map(function(d)
        return d.code
      end, vim.diagnostic.get(buf))))
  end
  -- "Fix all" (offered unresolved: the client announced resolveSupport for edit).
  if check(fix_all ~= nil, "\"Fix all\" offered (ARC002 has a safe fix)") then
    local resolved = request(client, "codeAction/resolve", fix_all, buf)
    local edit = resolved and resolved.result and resolved.result.edit
    if check(edit ~= nil, "\"Fix all\" resolves to an edit", vim.inspect(resolved)) then
      vim.lsp.util.apply_workspace_edit(edit, client.offset_encoding)
      local fixed = vim.wait(15000, function()
        local now = vim.diagnostic.get(buf)
        return find(now, "ARC002") == nil and find(now, "SEC001") ~= nil
      end, 20)
      local all = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, true), "\n")
      check(fixed and all:find("p.requires_grad = False", 1, true) ~= nil,
        "after \"Fix all\" ARC002 is fixed and gone, the unsafe SEC001 stays",
        vim.inspect(vim.tbl_map(function(d)
          return d.code
        end, vim.diagnostic.get(buf))))
    end
  end

  -- 4. Save, then a clean shutdown.
  vim.cmd("silent write")
  vim.wait(200)
  -- $MLENG_EXIT_FILE: where the `mleng` wrapper on PATH writes the server's exit status
  -- (no file: the wrapper was killed, i.e. the client gave up waiting and sent a signal).
  local exit_file = assert(vim.env.MLENG_EXIT_FILE, "MLENG_EXIT_FILE is not set")
  if new_api then
    client:stop()
  else
    client.stop()
  end
  local exited = vim.wait(10000, function()
    return vim.fn.filereadable(exit_file) == 1 and #vim.fn.readfile(exit_file) > 0
  end, 20)
  local status = exited and vim.fn.readfile(exit_file)[1] or "none: the server did not exit by itself"
  check(status == "0", "shutdown + exit: the server exited with status 0", status)
  vim.wait(100)
  check(#notices == 0, "no warnings or errors from Neovim's LSP client", table.concat(notices, " | "))
end

local ok, err = xpcall(main, debug.traceback)
if not ok then
  out("ERROR " .. tostring(err))
end
out(string.format("test-nvim: %d passed, %d failed", passes, failures))
io.stdout:flush()
if not ok then
  vim.cmd("cquit 2")
elseif failures > 0 then
  vim.cmd("cquit 1")
else
  vim.cmd("qall!")
end
