-- memleak.lua: outstanding allocations by stack, as bcc's memleak: a process's libc
-- allocations through uprobes (-p PID, -c COMMAND), or the kernel's through the kmem
-- tracepoints; every interval, the stacks holding the most memory not yet freed.
local BPF = require("bpflua")
local ffi = require("ffi")
local clock = require("bpflua.clock")
local opts = require("bpflua.args").parse(arg, {
  usage = "memleak.lua [-h] [-p PID] [-t] [-a] [-o OLDER] [-c COMMAND] [--combined-only] " ..
    "[--wa-missing-free] [-s SAMPLE_RATE] [-T TOP] [-z MIN_SIZE] [-Z MAX_SIZE] [-O OBJ] " ..
    "[--percpu] [--sort SORT] [--symbols-prefix SYMBOLS_PREFIX] [interval] [count]",
  description = "Trace outstanding memory allocations that weren't freed.\n" ..
    "Supports both user-mode allocations made with libc functions and kernel-mode\n" ..
    "allocations made with kmalloc/kmem_cache_alloc/get_free_pages and corresponding\n" ..
    "memory release functions.",
  {"-p", "--pid", "pid", "number", "the PID to trace; if not specified, trace kernel allocs"},
  {"-t", "--trace", "trace", "flag", "print trace messages for each alloc/free call"},
  {"-a", "--show-allocs", "show_allocs", "flag", "show allocation addresses and sizes as well as call stacks"},
  {"-o", "--older", "older", "number", "prune allocations younger than this age in milliseconds", default = 500},
  {"-c", "--command", "command", "string", "execute and trace the specified command"},
  {nil, "--combined-only", "combined_only", "flag", "show combined allocation statistics only"},
  {nil, "--wa-missing-free", "wa_missing_free", "flag", "Workaround to alleviate misjudgments when free is missing"},
  {"-s", "--sample-rate", "sample_rate", "number", "sample every N-th allocation to decrease the overhead", default = 1},
  {"-T", "--top", "top", "number", "display only this many top allocating stacks (by size)", default = 10},
  {"-z", "--min-size", "min_size", "number", "capture only allocations larger than or equal to this size"},
  {"-Z", "--max-size", "max_size", "number", "capture only allocations smaller than or equal to this size"},
  {"-O", "--obj", "obj", "string", "attach to allocator functions in the specified object", default = "c"},
  {nil, "--percpu", "percpu", "flag", "trace percpu allocations"},
  {nil, "--sort", "sort", "string", "report sorted in given key; available key list: size, count", default = "size"},
  {nil, "--symbols-prefix", "symbols_prefix", "string", "memory allocator symbols prefix"},
  positional = {{"interval", "number", "interval in seconds to print outstanding allocations"},
                {"count", "number", "number of times to print the report before exiting"}},
  examples = [[EXAMPLES:

memleak.lua -p $(pidof allocs)
        Trace allocations and display a summary of "leaked" (outstanding)
        allocations every 5 seconds
memleak.lua -p $(pidof allocs) -t
        Trace allocations and display each individual allocator function call
memleak.lua -a -p $(pidof allocs) 10
        Trace allocations and display allocated addresses, sizes, and stacks
        every 10 seconds for outstanding allocations
memleak.lua -c "./allocs"
        Run the specified command and trace its allocations
memleak.lua
        Trace allocations in kernel mode and display a summary of outstanding
        allocations every 5 seconds
memleak.lua -o 60000
        Trace allocations in kernel mode and display a summary of outstanding
        allocations that are at least one minute (60 seconds) old
memleak.lua -s 5
        Trace roughly every 5th allocation, to reduce overhead
memleak.lua --sort count
        Trace allocations in kernel mode and display a summary of outstanding
        allocations that are sorted in count order]],
})

local function usage_error(message)
  io.stderr:write("memleak.lua: " .. message .. "\n")
  os.exit(2)
end

if opts.sort ~= "size" and opts.sort ~= "count" then
  usage_error("--sort takes size or count, not '" .. opts.sort .. "'")
end
if opts.min_size and opts.max_size and opts.min_size > opts.max_size then
  usage_error("min_size (-z) can't be greater than max_size (-Z)")
end
if opts.pid and opts.command then
  usage_error("-p and -c exclude each other")
end

io.stdout:setvbuf("line")

if opts.command then
  print(string.format("Executing '%s' and tracing the resulting process.", opts.command))
  -- The shell's exec keeps its pid, which the shell writes first; the command runs beside
  -- the tool with its output.
  local pidfile = os.tmpname()
  os.execute(string.format("sh -c 'echo $$ > %s; exec %s' &", pidfile, (opts.command:gsub("'", "'\\''"))))
  for _ = 1, 500 do
    local f = io.open(pidfile)
    opts.pid = f and tonumber(f:read("*l"))
    if f then f:close() end
    if opts.pid then break end
    BPF.sleep(0.01)
  end
  os.remove(pidfile)
  if not opts.pid then
    usage_error("could not start '" .. opts.command .. "'")
  end
end
local kernel_trace = opts.pid == nil

-- The probes share one bookkeeping: the size asked for on entry (per thread), the allocation
-- by address when it returns, and per stack the bytes and allocations still out.
local text = [[
  struct alloc_info_t { u64 size; u64 timestamp_ns; int stack_id; u64 address; };
  struct combined_alloc_info_t { u64 total_size; u64 number_of_allocs; };
  struct trace_t { u64 size; u64 address; u32 pid; u32 kind; char comm[TASK_COMM_LEN]; };
  BPF_HASH(sizes, u32, u64);
  BPF_HASH(allocs, u64, struct alloc_info_t, 1000000);
  BPF_HASH(memptrs, u32, u64);
  BPF_STACK_TRACE(stack_traces, 10240);
  BPF_HASH(combined_allocs, u64, struct combined_alloc_info_t, 10240);
  BPF_RINGBUF_OUTPUT(trace_events, 64);

  enum { ALLOC_ENTER, ALLOC_EXIT, FREE_ENTER };

  static inline void trace_call(u32 kind, u64 size, u64 address) {
    if (!TRACE_ALL) return;
    struct trace_t *t = trace_events.ringbuf_reserve(sizeof(struct trace_t));
    if (!t) return;
    t->kind = kind;
    t->size = size;
    t->address = address;
    t->pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(&t->comm, sizeof(t->comm));
    trace_events.ringbuf_submit(t, 0);
  }

  static inline void update_statistics_add(u64 stack_id, u64 sz) {
    struct combined_alloc_info_t zero = {}, *existing = combined_allocs.lookup_or_try_init(&stack_id, &zero);
    if (!existing) return;
    __sync_fetch_and_add(&existing->total_size, sz);
    __sync_fetch_and_add(&existing->number_of_allocs, 1);
  }

  static inline void update_statistics_del(u64 stack_id, u64 sz) {
    struct combined_alloc_info_t *existing = combined_allocs.lookup(&stack_id);
    if (!existing) return;
    if (existing->number_of_allocs > 1) {
      __sync_fetch_and_sub(&existing->total_size, sz);
      __sync_fetch_and_sub(&existing->number_of_allocs, 1);
    } else {
      combined_allocs.delete(&stack_id);
    }
  }

  static inline int gen_alloc_enter(size_t size) {
    if (MIN_SIZE > 0 && size < MIN_SIZE) return 0;
    if (MAX_SIZE > 0 && size > MAX_SIZE) return 0;
    if (SAMPLE_EVERY_N > 1 && bpf_ktime_get_ns() % SAMPLE_EVERY_N != 0) return 0;
    u32 tid = bpf_get_current_pid_tgid();
    u64 size64 = size;
    sizes.update(&tid, &size64);
    trace_call(ALLOC_ENTER, size64, 0);
    return 0;
  }

  static inline int gen_alloc_exit2(void *ctx, u64 address) {
    u32 tid = bpf_get_current_pid_tgid();
    u64 *size = sizes.lookup(&tid);
    if (!size) return 0;  /* filtered out, or missed the entry */
    struct alloc_info_t info = {.size = *size};
    sizes.delete(&tid);
    if (address != 0) {
      if (WA_MISSING_FREE) {
        struct alloc_info_t *old = allocs.lookup(&address);
        if (old) {
          update_statistics_del(old->stack_id, old->size);
          allocs.delete(&address);
        }
      }
      info.timestamp_ns = bpf_ktime_get_ns();
      info.address = address;  /* whole, where the key reads as a Lua number */
      info.stack_id = stack_traces.get_stackid(ctx, STACK_FLAGS);
      allocs.update(&address, &info);
      update_statistics_add(info.stack_id, info.size);
    }
    trace_call(ALLOC_EXIT, info.size, address);
    return 0;
  }

  static inline int gen_free_enter(u64 address) {
    struct alloc_info_t *info = allocs.lookup(&address);
    if (!info) return 0;
    u64 size = info->size;
    update_statistics_del(info->stack_id, size);
    allocs.delete(&address);
    trace_call(FREE_ENTER, size, address);
    return 0;
  }
]]

local user_probes = [[
  int malloc_enter(struct pt_regs *ctx) { return gen_alloc_enter(PT_REGS_PARM1(ctx)); }
  int malloc_exit(struct pt_regs *ctx) { return gen_alloc_exit2(ctx, PT_REGS_RC(ctx)); }
  int free_enter(struct pt_regs *ctx) { return gen_free_enter(PT_REGS_PARM1(ctx)); }
  int calloc_enter(struct pt_regs *ctx) { return gen_alloc_enter(PT_REGS_PARM1(ctx) * PT_REGS_PARM2(ctx)); }
  int calloc_exit(struct pt_regs *ctx) { return gen_alloc_exit2(ctx, PT_REGS_RC(ctx)); }
  /* realloc frees the old block (if any) and makes a new one. */
  int realloc_enter(struct pt_regs *ctx) {
    gen_free_enter(PT_REGS_PARM1(ctx));
    return gen_alloc_enter(PT_REGS_PARM2(ctx));
  }
  int realloc_exit(struct pt_regs *ctx) { return gen_alloc_exit2(ctx, PT_REGS_RC(ctx)); }
  int mmap_enter(struct pt_regs *ctx) { return gen_alloc_enter(PT_REGS_PARM2(ctx)); }
  int mmap_exit(struct pt_regs *ctx) {
    u64 address = PT_REGS_RC(ctx);
    return gen_alloc_exit2(ctx, address == (u64)-1 ? 0 : address);
  }
  int munmap_enter(struct pt_regs *ctx) { return gen_free_enter(PT_REGS_PARM1(ctx)); }
  /* posix_memalign returns the block through its first argument, read on return. */
  int posix_memalign_enter(struct pt_regs *ctx) {
    u64 memptr = PT_REGS_PARM1(ctx);
    u32 tid = bpf_get_current_pid_tgid();
    memptrs.update(&tid, &memptr);
    return gen_alloc_enter(PT_REGS_PARM3(ctx));
  }
  int posix_memalign_exit(struct pt_regs *ctx) {
    u32 tid = bpf_get_current_pid_tgid();
    u64 *memptr = memptrs.lookup(&tid);
    if (!memptr) return 0;
    void *where = (void *)*memptr;
    memptrs.delete(&tid);
    u64 address = 0;
    if (PT_REGS_RC(ctx) == 0)
      bpf_probe_read_user(&address, sizeof(address), where);
    return gen_alloc_exit2(ctx, address);
  }
  int aligned_alloc_enter(struct pt_regs *ctx) { return gen_alloc_enter(PT_REGS_PARM2(ctx)); }
  int aligned_alloc_exit(struct pt_regs *ctx) { return gen_alloc_exit2(ctx, PT_REGS_RC(ctx)); }
  int valloc_enter(struct pt_regs *ctx) { return gen_alloc_enter(PT_REGS_PARM1(ctx)); }
  int valloc_exit(struct pt_regs *ctx) { return gen_alloc_exit2(ctx, PT_REGS_RC(ctx)); }
  int memalign_enter(struct pt_regs *ctx) { return gen_alloc_enter(PT_REGS_PARM2(ctx)); }
  int memalign_exit(struct pt_regs *ctx) { return gen_alloc_exit2(ctx, PT_REGS_RC(ctx)); }
  int pvalloc_enter(struct pt_regs *ctx) { return gen_alloc_enter(PT_REGS_PARM1(ctx)); }
  int pvalloc_exit(struct pt_regs *ctx) { return gen_alloc_exit2(ctx, PT_REGS_RC(ctx)); }
]]

-- The kernel's allocators through their tracepoints: the allocation is whole at the
-- tracepoint (size and address), so entry and exit happen in one program. Pages are keyed
-- by their frame number, as the page tracepoints give it.
local kernel_alloc = [[
  static inline int kernel_alloc(void *ctx, u64 size, u64 address) {
    gen_alloc_enter(size);
    return gen_alloc_exit2(ctx, address);
  }
]]
local kernel_probes = [[
  TRACEPOINT_PROBE(kmem, kmalloc) {
    if (WA_MISSING_FREE) gen_free_enter((u64)args->ptr);
    return kernel_alloc(args, args->bytes_alloc, (u64)args->ptr);
  }
  TRACEPOINT_PROBE(kmem, kfree) { return gen_free_enter((u64)args->ptr); }
  TRACEPOINT_PROBE(kmem, kmem_cache_alloc) {
    if (WA_MISSING_FREE) gen_free_enter((u64)args->ptr);
    return kernel_alloc(args, args->bytes_alloc, (u64)args->ptr);
  }
  TRACEPOINT_PROBE(kmem, kmem_cache_free) { return gen_free_enter((u64)args->ptr); }
  TRACEPOINT_PROBE(kmem, mm_page_alloc) {
    return kernel_alloc(args, PAGE_SIZE << args->order, args->pfn);
  }
  TRACEPOINT_PROBE(kmem, mm_page_free) { return gen_free_enter(args->pfn); }
]]
local percpu_probes = [[
  TRACEPOINT_PROBE(percpu, percpu_alloc_percpu) {
    return kernel_alloc(args, args->bytes_alloc, (u64)args->ptr);
  }
  TRACEPOINT_PROBE(percpu, percpu_free_percpu) { return gen_free_enter((u64)args->ptr); }
]]

if kernel_trace then
  text = text .. kernel_alloc .. (opts.percpu and percpu_probes or kernel_probes)
else
  text = text .. user_probes
end

local b = BPF{text = text, cflags = {
  "-DSAMPLE_EVERY_N=" .. opts.sample_rate .. "ULL",
  "-DMIN_SIZE=" .. (opts.min_size or 0) .. "ULL",
  "-DMAX_SIZE=" .. (opts.max_size or 0) .. "ULL",
  "-DTRACE_ALL=" .. (opts.trace and 1 or 0),
  "-DWA_MISSING_FREE=" .. (opts.wa_missing_free and 1 or 0),
  "-DSTACK_FLAGS=" .. (kernel_trace and "0" or "BPF_F_USER_STACK"),
  "-DPAGE_SIZE=4096ULL",
}}

if kernel_trace then
  print("Attaching to kernel allocators, Ctrl+C to quit.")
else
  -- Allocators a libc may lack (valloc, pvalloc, aligned_alloc, mmap in jemalloc) are skipped
  -- when absent, as bcc does; the others must attach.
  local function attach(sym, can_fail, needs_return)
    local name = (opts.symbols_prefix or "") .. sym
    local ok, err = pcall(function()
      b:attach_uprobe{name = opts.obj, sym = name, fn_name = sym .. "_enter", pid = opts.pid}
      if needs_return ~= false then
        b:attach_uretprobe{name = opts.obj, sym = name, fn_name = sym .. "_exit", pid = opts.pid}
      end
    end)
    if not ok and not can_fail then
      error(err, 0)
    end
  end
  attach("malloc")
  attach("calloc")
  attach("realloc")
  attach("mmap", true)
  attach("posix_memalign")
  attach("valloc", true)
  attach("memalign")
  attach("pvalloc", true)
  attach("aligned_alloc", true)
  attach("free", false, false)
  attach("munmap", true, false)
  print(string.format("Attaching to pid %d, Ctrl+C to quit.", opts.pid))
end

local stack_pid = kernel_trace and -1 or opts.pid

local function stack_lines(stack_id)
  local lines = {}
  for addr in b["stack_traces"]:walk(stack_id) do
    lines[#lines + 1] = "0x" .. bit.tohex(addr, 16) .. "\t" .. b:sym(addr, stack_pid, true, true)
  end
  return lines
end

local by_size = function(x, y) return x.size < y.size end
local by_count = function(x, y) return x.count < y.count end
local order = opts.sort == "count" and by_count or by_size

local function print_stacks(rows)
  for i = math.max(1, #rows - opts.top + 1), #rows do
    local row = rows[i]
    print(string.format("\t%d bytes in %d allocations from stack\n\t\t%s", row.size, row.count,
      table.concat(stack_lines(row.stack_id), "\n\t\t")))
  end
end

local function print_outstanding()
  print(string.format("[%s] Top %d stacks with outstanding allocations:", os.date("%H:%M:%S"), opts.top))
  local now = clock.monotonic_ns()
  local min_age = opts.older * 1e6
  local entries = {}
  for _, info in b["allocs"]:items() do
    entries[#entries + 1] = {address = info.address, size = tonumber(info.size),
      timestamp = tonumber(info.timestamp_ns), stack_id = info.stack_id}
  end
  table.sort(entries, by_size)
  local per_stack, rows = {}, {}
  for _, e in ipairs(entries) do
    if now - min_age >= e.timestamp and e.stack_id >= 0 then
      local row = per_stack[e.stack_id]
      if row then
        row.size, row.count = row.size + e.size, row.count + 1
      else
        row = {stack_id = e.stack_id, size = e.size, count = 1}
        per_stack[e.stack_id] = row
        rows[#rows + 1] = row
      end
      if opts.show_allocs then
        print(string.format("\taddr = %s size = %s", (bit.tohex(e.address, 16):gsub("^0+(.)", "%1")), e.size))
      end
    end
  end
  table.sort(rows, order)
  print_stacks(rows)
end

local function print_outstanding_combined()
  local rows = {}
  for stack_id, info in b["combined_allocs"]:items() do
    rows[#rows + 1] = {stack_id = tonumber(stack_id), size = tonumber(info.total_size),
      count = tonumber(info.number_of_allocs)}
  end
  table.sort(rows, order)
  print(string.format("[%s] Top %d stacks with outstanding allocations:", os.date("%H:%M:%S"), opts.top))
  print_stacks(rows)
end

local KINDS = {[0] = "alloc entered, size = %d", "alloc exited, size = %d, result = %x",
  "free entered, address = %x, size = %d"}

if opts.trace then
  local events = b["trace_events"]
  events:open_ring_buffer(function(_, data)
    local t = events:event(data)
    local message
    if t.kind == 2 then
      message = string.format(KINDS[2], tonumber(t.address), tonumber(t.size))
    else
      message = string.format(KINDS[t.kind], tonumber(t.size), tonumber(t.address))
    end
    print(string.format("%-16s %-7d %s", ffi.string(t.comm), t.pid, message))
  end)
  while true do
    b:ring_buffer_poll()
  end
end

-- As bcc's memleak, a report every interval and none at Ctrl-C (which ends the sleep with the
-- "interrupted" error, exit 130).
local report = opts.combined_only and print_outstanding_combined or print_outstanding
local reports = 0
while not opts.count or reports < opts.count do
  BPF.sleep(opts.interval or 5)
  report()
  reports = reports + 1
end
