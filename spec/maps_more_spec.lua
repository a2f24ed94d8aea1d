-- The map kinds beyond hashes and arrays, as bcc declares them, each written from one side
-- and read from the other: queues and stacks, LPM tries, maps of maps, cgroup arrays, task
-- and socket storage, LRU per-CPU hashes, and BPF_TABLE's other type names.
local BPF = require("bpflua")
local ffi = require("ffi")
local h = require("spec.helpers")

pcall(ffi.cdef, "int socket(int domain, int type, int protocol); int close(int fd);")

local pid = h.getpid()

-- A program whose getpriority() probe runs body for this process (args->who at hand).
local function probe(decls, body)
  return BPF{text = decls .. [[
    TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
      if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
      u64 who = (u32)args->who;
  ]] .. body .. [[
      return 0;
    }
  ]], cflags = {"-DPID=" .. pid}}
end

describe("more map kinds", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("BPF_QUEUE and BPF_STACK: push in C, pop in Lua, and the other way", function()
    local b = probe([[
      BPF_QUEUE(q, u64, 8);
      BPF_STACK(s, u64, 8);
      BPF_ARRAY(out, u64, 4);
    ]], [[
      if (who < 1000) {
        q.push(&who, 0);
        s.push(&who, 0);
      } else {
        u64 v = 0; int zero = 0, one = 1;
        if (q.pop(&v) == 0) out.update(&zero, &v);
        if (s.peek(&v) == 0) out.update(&one, &v);
      }
    ]])
    for i = 1, 3 do h.getpriority(i) end
    assert.are.equal(1, b.q:peek())
    assert.are.same({1, 2, 3}, {b.q:pop(), b.q:pop(), b.q:pop()})
    assert.is_nil(b.q:pop())
    local popped = {}
    for v in b.s:values() do popped[#popped + 1] = v end
    assert.are.same({3, 2, 1}, popped)
    b.q:push(7)
    b.q:push(8)
    b.s:push(7)
    b.s:push(8)
    h.getpriority(1000)
    assert.are.same({7, 8}, {b.out:get(0), b.out:get(1)})
    assert.are.equal(8, b.q:pop())
    for i = 1, 8 do b.q:push(i) end
    assert.has_error(function() b.q:push(9) end, "push on table 'q' failed: Argument list too long")
    b.q:push(9, 2) -- BPF_EXIST: the oldest goes
    assert.are.equal(2, b.q:pop())
    b:cleanup()
  end)

  it("BPF_LPM_TRIE: longest prefix match, keys as tables with their prefix length", function()
    local b = probe([[
      struct key_v4 { u32 prefixlen; u8 addr[4]; };
      BPF_LPM_TRIE(routes, struct key_v4, u64, 16);
      BPF_ARRAY(out, u64, 1);
    ]], [[
      struct key_v4 key = {.prefixlen = 32};
      __builtin_memcpy(key.addr, &who, 4);
      u64 *route = routes.lookup(&key);
      int zero = 0;
      u64 found = route ? *route : 999;
      out.update(&zero, &found);
    ]])
    local routes = b.routes
    routes:set({prefixlen = 8, addr = {10, 0, 0, 0}}, 1)
    routes:set({prefixlen = 24, addr = {10, 1, 2, 0}}, 2)
    assert.are.equal(2, routes:get{prefixlen = 32, addr = {10, 1, 2, 3}})
    assert.are.equal(1, routes:get{prefixlen = 32, addr = {10, 9, 9, 9}})
    assert.is_nil(routes:get{prefixlen = 32, addr = {11, 1, 2, 3}})
    h.getpriority(0x0302010a) -- 10.1.2.3, little-endian
    assert.are.equal(2, b.out:get(0))
    h.getpriority(0x0909090a) -- 10.9.9.9
    assert.are.equal(1, b.out:get(0))
    h.getpriority(0x0302010b) -- 11.1.2.3
    assert.are.equal(999, b.out:get(0))
    local n = 0
    for _ in routes:items() do n = n + 1 end
    assert.are.equal(2, n)
    b:cleanup()
  end)

  it("BPF_ARRAY_OF_MAPS and BPF_HASH_OF_MAPS: inner tables set from Lua, used from C", function()
    local b = probe([[
      BPF_ARRAY(inner1, u64, 4);
      BPF_ARRAY(inner2, u64, 4);
      BPF_ARRAY_OF_MAPS(outer, "inner1", 2);
      BPF_HASH_OF_MAPS(by_key, u32, "inner1", 4);
    ]], [[
      int index = who & 1;
      void *inner = outer.lookup(&index);
      int zero = 0;
      if (inner) {
        u64 *v = bpf_map_lookup_elem(inner, &zero);
        if (v) *v += 1;
      }
      u32 key = 77;
      inner = by_key.lookup(&key);
      if (inner) {
        int one = 1;
        u64 *v = bpf_map_lookup_elem(inner, &one);
        if (v) *v += 1;
      }
    ]])
    b.outer[0] = b.inner1
    b.outer:set(1, b.inner2)
    assert.is_true(b.outer[0] > 0 and b.outer[1] > 0)
    h.getpriority(2000)
    h.getpriority(2001)
    h.getpriority(2001)
    assert.are.same({1, 2}, {b.inner1:get(0), b.inner2:get(0)})
    b.by_key[77] = b.inner2
    h.getpriority(2000)
    assert.are.same({2, 1}, {b.inner1:get(0), b.inner2:get(1)})
    b.outer[0] = nil
    assert.is_nil(b.outer[0])
    h.getpriority(2000)
    assert.are.equal(2, b.inner1:get(0))
    b:cleanup()
  end)

  it("BPF_CGROUP_ARRAY: cgroups set by path, tested from C", function()
    local mount
    for line in io.lines("/proc/mounts") do
      mount = mount or line:match("^%S+ (%S+) cgroup2 ")
    end
    local mounted_here
    if not mount then -- (the QEMU guest of scripts/vmtest.sh has none)
      mount = h.tmpdir()
      assert(os.execute("mount -t cgroup2 none " .. mount) == 0, "cannot mount cgroup2")
      mounted_here = mount
    end
    local empty = mount .. "/bpflua-spec-" .. pid
    os.execute("mkdir -p " .. empty)
    local b = probe([[
      BPF_CGROUP_ARRAY(cg, 2);
      BPF_ARRAY(out, s64, 2);
    ]], [[
      int zero = 0, one = 1;
      s64 in_root = cg.check_current_task(0), in_empty = cg.check_current_task(1);
      out.update(&zero, &in_root);
      out.update(&one, &in_empty);
    ]])
    b.cg[0] = mount
    b.cg:set(1, empty)
    h.getpriority(1)
    assert.are.same({1, 0}, {b.out:get(0), b.out:get(1)})
    assert.has_error(function() b.cg[1] = "/nonexistent/cgroup" end,
      "set: cannot open cgroup /nonexistent/cgroup: No such file or directory")
    b:cleanup()
    os.execute("rmdir " .. empty)
    if mounted_here then
      os.execute("umount " .. mounted_here .. " && rmdir " .. mounted_here)
    end
  end)

  it("BPF_TASK_STORAGE: a value kept with the task, read and written from Lua by pid", function()
    local b = probe([[
      BPF_TASK_STORAGE(calls, u64);
    ]], [[
      struct task_struct *task = bpf_get_current_task_btf();
      u64 *n = calls.task_storage_get(task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
      if (n) *n += 1;
    ]])
    assert.is_nil(b.calls:get(pid))
    for _ = 1, 3 do h.getpriority(1) end
    assert.are.equal(3, b.calls:get(pid))
    b.calls:set(pid, 100)
    h.getpriority(1)
    assert.are.equal(101, b.calls:get(pid))
    b.calls:delete(pid)
    assert.is_nil(b.calls:get(pid))
    assert.has_error(function() b.calls:get(99999999) end)
    b:cleanup()
  end)

  it("BPF_SK_STORAGE: a value kept with a socket, by its fd", function()
    local b = BPF{text = [[
      BPF_SK_STORAGE(per_socket, u64);
      int touch(struct __sk_buff *skb) {
        struct bpf_sock *sk = skb->sk;
        if (sk) per_socket.sk_storage_get(sk, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
        return 1;
      }
    ]]}
    local fd = ffi.C.socket(2, 2, 0) -- AF_INET, SOCK_DGRAM
    assert.is_nil(b.per_socket:get(fd))
    b.per_socket:set(fd, 5)
    assert.are.equal(5, b.per_socket:get(fd))
    b.per_socket:delete(fd)
    assert.is_nil(b.per_socket:get(fd))
    ffi.C.close(fd)
    assert.is_true(b:load_func("touch", BPF.CGROUP_SKB).fd > 0)
    b:cleanup()
  end)

  it("BPF_LRU_PERCPU_HASH: a value per CPU, summed", function()
    local b = probe([[
      BPF_LRU_PERCPU_HASH(seen, u32, u64, 16);
    ]], [[
      u32 key = who;
      seen.increment(key);
    ]])
    for _ = 1, 4 do h.getpriority(5) end
    assert.are.equal(4, b.seen:sum(5))
    assert.are.equal("lru_percpu_hash", b.seen.type)
    b:cleanup()
  end)

  it("BPF_TABLE(\"ringbuf\", ...): a ring of that many bytes, with its methods", function()
    local b = probe([[
      BPF_TABLE("ringbuf", int, int, ring, 8192);
    ]], [[
      ring.ringbuf_output(&who, sizeof(who), 0);
    ]])
    local got = {}
    b.ring:open_ring_buffer(function(_, data) got[#got + 1] = tonumber(ffi.cast("uint64_t *", data)[0]) end)
    h.getpriority(11)
    h.getpriority(12)
    while #got < 2 do b:ring_buffer_poll(1000) end
    assert.are.same({11, 12}, got)
    assert.are.equal(0, b.ring:dropped())
    b:cleanup()
    local ok, err = pcall(BPF, {text = 'BPF_TABLE("ringbuf", int, int, ev, 5000);'})
    assert.is_false(ok)
    -- the error is at the script's (this spec's) line
    assert.matches("maps_more_spec%.lua:%d+:%d+: error: .*the size of ev must be a power%-of%-two number of pages, in bytes", err)
  end)

  it("BPF_TABLE with bcc's other type names: stacktrace, perf_output, lpm_trie", function()
    local b = probe([[
      BPF_TABLE("stacktrace", u32, struct bpf_stacktrace, stacks, 16);
      BPF_TABLE("perf_output", int, u32, events, 0);
      struct key_v4 { u32 prefixlen; u32 addr; };
      BPF_TABLE("lpm_trie", struct key_v4, u64, trie, 8);
    ]], [[
      s64 id = stacks.get_stackid(args, BPF_F_USER_STACK);
      events.perf_submit(args, &who, sizeof(who));
    ]])
    local got = {}
    b.events:open_perf_buffer(function(_, data) got[#got + 1] = ffi.cast("uint64_t *", data)[0] end)
    h.getpriority(42)
    h.getpriority(43)
    while #got < 2 do b:perf_buffer_poll(1000) end
    assert.are.same({42ULL, 43ULL}, got)
    assert.are.equal("stack_trace", require("bpflua.table").map_type(
      require("bpflua.cdefs").bpf_object__find_map_by_name(require("bpflua.cdefs").bpflua_object_bpf(b._handle), "stacks")))
    b.trie:set({prefixlen = 16, addr = 0x0000a8c0}, 3)
    assert.are.equal(3, b.trie:get{prefixlen = 32, addr = 0x0101a8c0})
    b:cleanup()
  end)

  it("BPF_TABLE_PINNED: pinned in bpffs, and the same map for a later object", function()
    local path = "/sys/fs/bpf/bpflua-spec-" .. pid .. "-counts"
    local decl = 'BPF_TABLE_PINNED("hash", u32, u64, counts, 16, "' .. path .. '");\n'
    local b1 = BPF{text = decl}
    b1.counts:set(1, 5)
    b1:cleanup()
    assert.is_truthy(io.open(path), "no pin at " .. path)
    local b2 = probe(decl, "counts.increment(1);")
    assert.are.equal(5, b2.counts:get(1))
    h.getpriority(1)
    assert.are.equal(6, b2.counts:get(1))
    b2:cleanup()
    os.remove(path)
    assert.has_error(function()
      BPF{text = 'BPF_TABLE_PINNED("hash", u32, u64, c, 16, "relative/path");'}
    end, "BPF_TABLE_PINNED 'c': the pin path must be absolute, as in \"/sys/fs/bpf/c\"")
  end)

  it("BPF_TABLE_PUBLIC and BPF_TABLE_SHARED: used by later objects as BPF_TABLE(\"extern\")", function()
    local owner = BPF{text = [[
      BPF_TABLE_PUBLIC("array", int, u64, totals, 4);
      BPF_TABLE_SHARED("hash", u32, u64, by_who, 4);
    ]]}
    local user = probe([[
      BPF_TABLE("extern", int, u64, totals, 4);
      BPF_TABLE("extern", u32, u64, by_who, 4);
    ]], [[
      totals.increment(0);
      u32 key = who;
      by_who.increment(key);
    ]])
    for _ = 1, 3 do h.getpriority(9) end
    assert.are.equal(3, owner.totals:get(0))
    assert.are.equal(3, owner.by_who:get(9))
    assert.has_error(function() BPF{text = 'BPF_TABLE_PUBLIC("array", int, u64, totals, 4);'} end,
      "BPF_TABLE_PUBLIC 'totals': a table of that name is already public in this process")
    user:cleanup()
    owner:cleanup()
    assert.has_error(function() BPF{text = 'BPF_TABLE("extern", int, u64, totals, 4);'} end,
      "BPF_TABLE(\"extern\", ...) 'totals': no table of that name is public in this process " ..
      "(declare it with BPF_TABLE_PUBLIC or BPF_TABLE_SHARED in an object loaded before)")
  end)

  it("print in the REPL's summary of an object", function()
    local b = BPF{text = [[
      BPF_QUEUE(q, u64, 8);
      BPF_ARRAY(inner, u64, 2);
      BPF_ARRAY_OF_MAPS(outer, "inner", 2);
      BPF_CGROUP_ARRAY(cg, 2);
      BPF_TASK_STORAGE(ts, u64);
      BPF_PROG_ARRAY(jump, 2);
    ]]}
    local text = table.concat(require("bpflua.pretty").table_lines(b), "\n")
    assert.matches("q +BPF_QUEUE q: uint64_t, at most 8", text)
    assert.matches("outer +BPF_ARRAY_OF_MAPS outer", text)
    assert.matches("cg +BPF_CGROUP_ARRAY cg: 2 slots", text)
    assert.matches("ts +task_storage ts: uint64_t", text)
    assert.matches("jump +BPF_PROG_ARRAY jump: 2 slots", text)
    assert.matches("inner +array, key int32_t, value uint64_t", text)
    b:cleanup()
  end)

  it("table methods that a kind does not have are compile errors naming the kind", function()
    local ok, err = pcall(BPF, {text = [[
      BPF_QUEUE(q, u64, 8);
      int f(void *ctx) { u64 v = 1; q.increment(v); return 0; }
    ]]})
    assert.is_false(ok)
    assert.matches("BPF_QUEUE", err)
  end)
end)
