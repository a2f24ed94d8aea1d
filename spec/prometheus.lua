-- A real Prometheus server for the specs: started on a free loopback port with a temporary
-- config and data directory, scraping the given targets every second.
local h = require("spec.helpers")

local Prometheus = {}
Prometheus.__index = Prometheus

local M = {}

-- A loopback port nobody listens on: the kernel picks one for a socket closed at once.
function M.free_port()
  local socket = require("cqueues.socket").listen("127.0.0.1", 0)
  assert(socket:listen())
  local _, _, port = socket:localname()
  socket:close()
  return port
end

local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- targets: {"127.0.0.1:port", ...}
function M.start(targets)
  local self = setmetatable({dir = h.tmpdir(), port = M.free_port()}, Prometheus)
  local list = {}
  for i, t in ipairs(targets) do
    list[i] = "'" .. t .. "'"
  end
  h.write_file(self.dir .. "/prometheus.yml", string.format([[
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: bpflua
    static_configs:
      - targets: [%s]
]], table.concat(list, ", ")))
  self.pid = h.run(string.format(
    "prometheus --config.file=%s/prometheus.yml --storage.tsdb.path=%s/data " ..
    "--web.listen-address=127.0.0.1:%d > %s/log 2>&1 & echo $!",
    self.dir, self.dir, self.port, self.dir)):match("%d+")
  return self
end

-- The value of an instant query's first sample, waiting (up to ~30 s) until one exists and,
-- when want is given, until it equals want. Returns the value (a string) or nil.
function Prometheus:wait_value(query, want)
  local url = string.format("http://127.0.0.1:%d/api/v1/query?query=%s", self.port,
    query:gsub("[^%w_]", function(c) return string.format("%%%02X", c:byte()) end))
  local value
  for _ = 1, 300 do
    value = h.run("curl -s -m 2 " .. quote(url)):match('"value":%[[%d.]+,"([^"]+)"%]')
    if value and (want == nil or value == want) then
      return value
    end
    h.run("sleep 0.1")
  end
  return value
end

function Prometheus:log()
  local f = io.open(self.dir .. "/log")
  local text = f and f:read("*a") or ""
  if f then
    f:close()
  end
  return text
end

function Prometheus:stop()
  h.run("kill " .. self.pid .. "; while kill -0 " .. self.pid .. " 2>/dev/null; do sleep 0.05; done; rm -rf " .. self.dir)
end

return M
