-- exporter.lua: a Prometheus exporter for BPF tables. CONFIG.lua names the programs (bcc C)
-- and the metrics on their tables (see lua/bpflua/exporter.lua and docs/metrics.md); every
-- scrape of /metrics reads the tables at that moment.
local exporter = require("bpflua.exporter")
local opts = require("bpflua.args").parse(arg, {
  usage = "exporter.lua [--listen ADDR:PORT] CONFIG.lua",
  description = "Serve BPF tables as Prometheus metrics at http://ADDR:PORT/metrics.",
  {"-l", "--listen", "listen", "string", "address and port (default 127.0.0.1:9435)",
    metavar = "ADDR:PORT"},
})
if #opts ~= 1 then
  io.stderr:write("exporter.lua: give one CONFIG.lua (-h for help)\n")
  os.exit(2)
end

local host, port = (opts.listen or "127.0.0.1:9435"):match("^%[?([^%]]*)%]?:(%d+)$")
if not host then
  io.stderr:write("exporter.lua: --listen takes ADDR:PORT, not '" .. opts.listen .. "'\n")
  os.exit(2)
end

local config = exporter.read_config(opts[1])
local reg, objects = exporter.load(config, opts[1])
io.stdout:setvbuf("line")
exporter.serve(reg, host, tonumber(port), function(bound_host, bound_port)
  print(string.format("Serving %d metrics from %d programs at http://%s:%d/metrics. Ctrl-C to quit.",
    #reg.metrics, #objects, bound_host, bound_port))
end)
