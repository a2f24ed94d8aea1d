-- An exporter's two halves: loading a config (its BPF programs and the metrics on their
-- tables) into a metrics registry, and serving that registry over HTTP with lua-http
-- (cqueues). The nginx embedding uses the first half alone.
--
-- A config is a Lua file returning
--   {programs = {{text = [[bcc C]] | src_file = "x.c", cflags = {...},
--                 setup = function(b) ... end,       -- optional: attach_* calls
--                 metrics = {{table = "calls", name = "x_calls_total", type = "counter",
--                             help = "...", labels = {"pid", ...}, ...}, ...}}, ...}}
-- with the metric options of bpflua.metrics (table names a table of the program).
local BPF = require("bpflua")
local metrics = require("bpflua.metrics")

local M = {}

local function config_error(path, message)
  error(string.format("%s: %s", path, message), 0)
end

-- Reads the config at path: returns the table it returns.
function M.read_config(path)
  local chunk, err = loadfile(path)
  if not chunk then
    config_error(path, err)
  end
  local ok, config = pcall(chunk)
  if not ok then
    config_error(path, tostring(config))
  end
  if type(config) ~= "table" or type(config.programs) ~= "table" or #config.programs == 0 then
    config_error(path, "must return {programs = {{text = ..., metrics = {...}}, ...}}")
  end
  return config
end

-- Loads every program of the config and declares its metrics; returns the registry and the
-- BPF objects (keep them: collecting them detaches the programs).
function M.load(config, path)
  local reg, objects = metrics.new(), {}
  for i, program in ipairs(config.programs) do
    if type(program.metrics) ~= "table" then
      config_error(path, string.format("program %d has no metrics list", i))
    end
    local dir = path:match("^(.*)/[^/]*$") or "."
    local src_file = program.src_file
    if src_file and src_file:sub(1, 1) ~= "/" then
      src_file = dir .. "/" .. src_file
    end
    local b = BPF{text = program.text, src_file = src_file, cflags = program.cflags}
    objects[#objects + 1] = b
    if program.setup then
      program.setup(b)
    end
    reg:add_from_config(b, program.metrics)
  end
  return reg, objects
end

-- The body and content type for a request whose Accept header is accept: OpenMetrics when
-- the scraper asks for it (Prometheus does), the 0.0.4 text format otherwise.
function M.exposition(reg, accept)
  if accept and accept:find("application/openmetrics-text", 1, true) then
    return reg:render{openmetrics = true}, metrics.OPENMETRICS_CONTENT_TYPE
  end
  return reg:render(), metrics.CONTENT_TYPE
end

local INDEX = [[<html><head><title>bpflua exporter</title></head>
<body><h1>bpflua exporter</h1><p><a href="/metrics">Metrics</a></p></body></html>
]]

local function respond(stream, status, content_type, body)
  local headers = require("http.headers").new()
  headers:append(":status", status)
  headers:append("content-type", content_type)
  headers:append("content-length", tostring(#body))
  stream:write_headers(headers, false)
  stream:write_chunk(body, true)
end

local function serve_request(reg, stream)
  local request = stream:get_headers()
  local method, path = request:get(":method"), request:get(":path"):match("^[^?]*")
  if method ~= "GET" and method ~= "HEAD" then
    return respond(stream, "405", "text/plain", "only GET\n")
  end
  if path == "/" then
    return respond(stream, "200", "text/html", INDEX)
  elseif path ~= "/metrics" then
    return respond(stream, "404", "text/plain", "not found\n")
  end
  local ok, body, content_type = pcall(M.exposition, reg, request:get("accept"))
  if not ok then
    io.stderr:write("exporter: scrape failed: ", tostring(body), "\n")
    return respond(stream, "500", "text/plain", "scrape failed: " .. tostring(body) .. "\n")
  end
  respond(stream, "200", content_type, body)
end

-- Serves reg at http://host:port/metrics until Ctrl-C (the host's interrupt flag) or until
-- on_listening(host, port) is called once the socket is bound.
function M.serve(reg, host, port, on_listening)
  local server = require("http.server").listen{
    host = host, port = port, reuseaddr = true,
    onstream = function(_, stream)
      serve_request(reg, stream)
    end,
    onerror = function(_, context, op, err)
      io.stderr:write(string.format("exporter: %s on %s: %s\n", op, tostring(context), tostring(err)))
    end,
  }
  assert(server:listen())
  local _, bound_host, bound_port = server:localname()
  if on_listening then
    on_listening(bound_host, bound_port)
  end
  local lib = require("bpflua.cdefs")
  local errors = require("bpflua.errors")
  -- Steps of half a second, so that Ctrl-C in the bpflua host ends the loop promptly: the
  -- flag while it waits, or the interrupted error it became, which http's step catches.
  local interrupts = errors.interrupt_count()
  while lib.bpflua_interrupted() == 0 and errors.interrupt_count() == interrupts do
    local ok, err = server:step(0.5)
    if not ok and errors.interrupt_count() == interrupts then
      io.stderr:write("exporter: ", tostring(err), "\n")
    end
  end
  server:close()
  errors.interrupted(0)
end

return M
