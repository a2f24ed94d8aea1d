-- scripts/exporter.lua against real components: its example configs pass promtool, and a real
-- Prometheus server (started here, on loopback) scrapes a known workload's exact count.
local ffi = require("ffi")
local h = require("spec.helpers")

ffi.cdef[[ int getppid(void); ]]

local function sh_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function slurp(path)
  local f = io.open(path)
  local text = f and f:read("*a") or ""
  if f then
    f:close()
  end
  return text
end

-- Starts the exporter on a free loopback port; returns its port and a function that stops
-- it with Ctrl-C and returns its output and exit status.
local function start_exporter(config_path)
  local log, pidfile = os.tmpname(), os.tmpname()
  h.run(string.format("( bpflua scripts/exporter.lua --listen 127.0.0.1:0 %s > %s 2>&1 & p=$!; " ..
    "echo $p > %s; wait $p; echo \"status=$?\" >> %s ) > /dev/null 2>&1 &", config_path, log, pidfile, log))
  local port, pid
  for _ = 1, 600 do
    local text = slurp(log)
    port, pid = text:match("http://127%.0%.0%.1:(%d+)/metrics"), slurp(pidfile):match("%d+")
    if port and pid then
      break
    end
    assert(not text:find("status=", 1, true), "the exporter ended: " .. text)
    h.run("sleep 0.05")
  end
  assert(port, "the exporter did not start")
  return tonumber(port), function()
    h.run("kill -INT " .. pid)
    local text
    for _ = 1, 200 do
      text = slurp(log)
      if text:find("status=%d+") then
        break
      end
      h.run("sleep 0.05")
    end
    os.remove(log)
    os.remove(pidfile)
    return text, tonumber(text:match("status=(%d+)"))
  end
end

local function curl(url, extra)
  local out, err, status = h.run("curl -sS -m 10 " .. (extra or "") .. " " .. sh_quote(url))
  assert(status == 0, "curl " .. url .. ": " .. err)
  return out
end

local PID_CONFIG = [[
return {programs = {{
  text = [==[
    BPF_HASH(calls, u32, u64, 1024);
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
      u32 pid = bpf_get_current_pid_tgid() >> 32;
      calls.atomic_increment(pid);
      return 0;
    }
  ]==],
  metrics = {{table = "calls", name = "spec_getppid_calls_total", type = "counter",
              help = "getppid calls by process", labels = {"pid"}}},
}}}
]]

describe("the exporter", function()
  setup(function()
    assert(h.require_bpf())
  end)

  for _, name in ipairs({"syscalls", "biolatency", "runqlat"}) do
    it("serves " .. name .. ".lua's metrics in a form promtool accepts", function()
      local port, stop = start_exporter("scripts/exporter/" .. name .. ".lua")
      -- make some of what each config counts: syscalls, a direct read, a context switch
      h.run("dd if=/proc/self/exe of=/dev/null bs=4k count=16 2>/dev/null; sleep 0.1; sync")
      local text = curl("http://127.0.0.1:" .. port .. "/metrics")
      local path = os.tmpname()
      h.write_file(path, text)
      local out, err, status = h.run("promtool check metrics < " .. path)
      os.remove(path)
      stop()
      assert.are.equal(0, status, out .. err)
      assert.truthy(text:find("# TYPE bpflua_", 1, true))
      if name == "syscalls" then
        assert.truthy(text:match('bpflua_syscalls_total{syscall="read",comm="[^"]+"} %d+'))
      elseif name == "runqlat" then
        assert.truthy(text:match("bpflua_runq_latency_seconds_count %d+"))
        assert.truthy(text:match("bpflua_runq_latency_seconds_sum [%d.e+-]+"))
      end
    end)
  end

  it("answers OpenMetrics to scrapers that ask, 404 elsewhere, and stops on Ctrl-C", function()
    local config = os.tmpname() .. ".lua"
    h.write_file(config, PID_CONFIG)
    local port, stop = start_exporter(config)
    local base = "http://127.0.0.1:" .. port
    local om = curl(base .. "/metrics", "-H 'Accept: application/openmetrics-text; version=1.0.0'")
    assert.truthy(om:match("# EOF\n$"))
    assert.truthy(om:find("# TYPE spec_getppid_calls counter", 1, true))
    local headers = curl(base .. "/nope", "-o /dev/null -w '%{http_code}'")
    assert.are.equal("404", headers)
    local text, status = stop()
    os.remove(config)
    assert.truthy(text:find("bpflua: interrupted", 1, true))
    assert.are.equal(130, status)
  end)

  it("is scraped by a real Prometheus, which reads a known workload's exact count", function()
    local config = os.tmpname() .. ".lua"
    h.write_file(config, PID_CONFIG)
    local port, stop = start_exporter(config)
    for _ = 1, 1000 do
      ffi.C.getppid()
    end
    local prometheus = require("spec.prometheus").start({"127.0.0.1:" .. port})
    local value = prometheus:wait_value('spec_getppid_calls_total{pid="' .. h.getpid() .. '"}', "1000")
    local log = prometheus:log()
    prometheus:stop()
    stop()
    os.remove(config)
    assert.are.equal("1000", value, "Prometheus did not report the count; its log:\n" .. log)
  end)
end)
