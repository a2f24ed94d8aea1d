-- Demangling: libbpflua-demangle (LLVM's demangler, what BPF.sym uses) against libstdc++'s
-- __cxa_demangle (what bcc uses), on the same C++ and Rust names in the same run: the time per
-- name, and what loading each library costs a process (the demangler is loaded on the first
-- mangled name only, so a run without C++ frames pays nothing).
--   luajit scripts/bench/demangle.lua [rounds]     (with the build's LUA_PATH, as the specs)
local ffi = require("ffi")
local config = require("bpflua.config")

local rounds = tonumber(arg[1]) or 7
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local bench = dofile(here .. "/bench.lua")
local N = 200000

ffi.cdef[[
char *__cxa_demangle(const char *mangled, char *buf, size_t *n, int *status);
char *bpflua_demangle(const char *name);
void bpflua_demangle_free(char *text);
void free(void *p);
]]

-- Names as stacks of C++ and Rust programs hold them (a Rust v0 name only LLVM reads).
local names = {
  "_ZN2ns5Klass6methodEi",
  "_ZNSt6vectorIiSaIiEE9push_backERKi",
  "_ZNSt8_Rb_treeISsSt4pairIKSsiESt10_Select1stIS2_ESt4lessISsESaIS2_EE16_M_insert_uniqueERKS2_",
  "_ZN9__gnu_cxx13new_allocatorIcE8allocateEmPKv",
  "_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$closure$u7d$$u7d$$GT$17h0123456789abcdefE",
}

-- The time a fresh luajit takes to load library (ms), median of rounds.
local function load_ms(library)
  local code = string.format([[
    local ffi = require("ffi")
    ffi.cdef("struct ts { long s, ns; }; int clock_gettime(int, struct ts *);")
    local t = ffi.new("struct ts")
    ffi.C.clock_gettime(1, t); local t0 = tonumber(t.s) * 1e3 + tonumber(t.ns) / 1e6
    ffi.load(%q)
    ffi.C.clock_gettime(1, t); io.write(tonumber(t.s) * 1e3 + tonumber(t.ns) / 1e6 - t0)
  ]], library)
  local times = {}
  for round = 1, rounds do
    local p = assert(io.popen("luajit -e " .. string.format("%q", code):gsub("\\\n", " ")))
    times[round] = tonumber(p:read("*a"))
    p:close()
  end
  return bench.median(times)
end

local LIBSTDCXX = "libstdc++.so.6"
local stdcxx = ffi.load(LIBSTDCXX)
local llvm = ffi.load(config.demangler)
local status = ffi.new("int[1]")

local cases = {
  {"libstdc++ __cxa_demangle (bcc)", function(name)
    local p = stdcxx.__cxa_demangle(name, nil, nil, status)
    ffi.C.free(p)
  end},
  {"libbpflua-demangle (LLVM)", function(name)
    llvm.bpflua_demangle_free(llvm.bpflua_demangle(name))
  end},
}

local per_name = {{}, {}}
for round = 1, rounds do
  for i, case in ipairs(cases) do
    local demangle = case[2]
    local t0 = bench.now_ns()
    for n = 1, N do
      demangle(names[n % #names + 1])
    end
    per_name[i][round] = (bench.now_ns() - t0) / N
  end
end

print(string.format("demangling, %d names of %d kinds, median of %d rounds, %s", N, #names, rounds,
  os.date("!%Y-%m-%d")))
local base = bench.median(per_name[1])
for i, case in ipairs(cases) do
  local med = bench.median(per_name[i])
  print(string.format("%-34s %8.0f ns/name   %6.2fx", case[1], med, med / base))
  bench.summary("demangling", case[1], med, cases[1][1], base)
end
local stdcxx_ms, llvm_ms = load_ms(LIBSTDCXX), load_ms(config.demangler)
print(string.format("%-34s %8.2f ms to load", LIBSTDCXX, stdcxx_ms))
print(string.format("%-34s %8.2f ms to load", "libbpflua-demangle.so", llvm_ms))
