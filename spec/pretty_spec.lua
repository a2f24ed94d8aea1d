-- The REPL's value printing and completion, in this process (the terminal specs are in
-- repl_spec.lua).
local ffi = require("ffi")
local pretty = require("bpflua.pretty")
local complete = require("bpflua.complete")
local ctypes = require("bpflua.ctypes")

describe("the REPL's printing", function()
  it("shows tables with sorted keys, bounded depth and cycles", function()
    assert.are.equal('{1, 2, [7] = true, a = "x\\n", ["end"] = 4, ["not a name"] = 3}',
      pretty.format({1, 2, a = "x\n", ["not a name"] = 3, ["end"] = 4, [7] = true}))
    assert.are.equal("{{{{{...}}}}}", pretty.format({{{{{{}}}}}}))
    local t = {}
    t.self = t
    assert.are.equal("{self = <cycle>}", pretty.format(t))
    local long = {}
    for i = 1, 100 do long[i] = i end
    local text = pretty.format(long)
    assert.matches("... (60 more)", text, 1, true)
    assert.matches("^{\n  1,\n  2,", text)
  end)

  it("shows numbers with their digits and 64-bit integers without suffixes", function()
    assert.are.equal("42\t1.5\t1.1805916207174e+21\tnil\ttext",
      pretty.show(42, 1.5, 2^70, nil, "text")) -- beyond 64 bits, the exponent form
    assert.are.equal("18446744073709551615", pretty.format(0xffffffffffffffffULL))
    assert.are.equal("-9", pretty.format(ffi.new("int64_t", -9)))
    assert.are.equal("4611686018427387904", pretty.format(2^62))
  end)

  it("shows the structs bpflua typed with their fields", function()
    local t = ctypes.define("struct __attribute__((packed)) { uint32_t pid; char comm[8]; " ..
      "uint8_t __pad_12[4]; struct { uint64_t big; int16_t v[2]; } inner; union { uint32_t a; } ; }")
    local v = t.value()
    v.pid, v.comm, v.inner.big, v.inner.v[1], v.a = 7, "sh", ffi.new("uint64_t", 2^63), -3, 5
    assert.are.equal('{pid = 7, comm = "sh", inner = {big = 9223372036854775808, v = {0, -3}}, a = 5}',
      pretty.format(v))
    assert.are.equal('"abc"\t{1, 2}', pretty.show(ffi.new("char[4]", "abc"), ffi.new("int[2]", {1, 2})))
  end)
end)

describe("the REPL's completion", function()
  local env = setmetatable({
    alpha = 1, alphabet = {beta = {gamma = 1}, ["two words"] = 2}, s = "text",
    obj = setmetatable({own = 1}, {__index = {method = function() end, field = 1}}),
  }, {__index = _G})

  it("completes globals, keywords, fields, keys and methods", function()
    assert.are.same({"alpha", "alphabet"}, complete.candidates(env, "x = alp", 4))
    assert.are.same({"function"}, complete.candidates(env, "functio", 0))
    assert.are.same({"gamma"}, complete.candidates(env, "alphabet.beta.g", 14))
    assert.are.same({'beta"]', 'two words"]'}, complete.candidates(env, 'alphabet["', 10))
    assert.are.same({"method"}, complete.candidates(env, "obj:", 4))
    assert.are.same({"field", "method", "own"}, complete.candidates(env, "obj.", 4))
    assert.are.same({"upper"}, complete.candidates(env, "s:up", 2))
    assert.are.same({}, complete.candidates(env, "nothing.here.", 13))
    assert.are.same({}, complete.candidates(env, "x = 1.", 6))
  end)
end)
