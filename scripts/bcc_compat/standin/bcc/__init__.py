# A stand-in for bcc's Python module that records, instead of compiling, what a bcc tool
# would hand to bcc: the text of each BPF(text=...) and every attach call. The bcc_compat
# runner (scripts/bcc_compat/run.lua) runs a tool's own Python with this directory first on
# PYTHONPATH, then compiles, loads and attaches what was recorded with bpflua.
#
# Everything that only asks the kernel a question (BPF.get_kprobe_functions,
# BPF.kernel_struct_has_field, BPF.tracepoint_exists, USDT, bcc.utils, bcc.syscall, ...)
# is the installed bcc's own code: this package puts the real bcc directory on its
# __path__, loads the real __init__ as bcc._real and derives BPF from its class, so a tool
# builds exactly the text it builds under bcc on this kernel.
#
# The record, in $BCC_COMPAT_OUT:
#   N.c          the text of the N-th BPF object (USDT argument code prepended, as bcc does)
#   N.cflags     its cflags, one per line
#   attach       one line per attach: N <tab> kind <tab> key=value <tab> ...
#   status       why the tool stopped: "stopped at <call>", "exit N", "timeout", "error: ..."
import atexit
import importlib.machinery
import importlib.util
import os
import re
import sys
import traceback

_REAL_DIR = os.environ.get("BCC_COMPAT_REAL_BCC", "/usr/lib/python3/dist-packages/bcc")
__path__.append(_REAL_DIR)  # bcc.utils, bcc.syscall, bcc.table, ... are the real ones

# A plain module in package bcc, so that its relative imports (.libbcc, .table, ...) load the
# real submodules once, as bcc.libbcc etc., shared with the tool's own imports.
_loader = importlib.machinery.SourceFileLoader("bcc._real", os.path.join(_REAL_DIR, "__init__.py"))
_spec = importlib.util.spec_from_loader("bcc._real", _loader, is_package=False)
_real = importlib.util.module_from_spec(_spec)
sys.modules["bcc._real"] = _real
_spec.loader.exec_module(_real)

for _name in dir(_real):
    if not _name.startswith("__"):
        globals()[_name] = getattr(_real, _name)

# A kernel without kprobes has no kprobes/blacklist, and BPF.get_kprobe_functions fails
# without it; the tools' text is wanted as they build it on a kernel with kprobes, where
# that file exists, so an empty one stands in.
_OUT = os.environ.get("BCC_COMPAT_OUT")
if _OUT and not os.path.exists(os.path.join(_real.DEBUGFS, "kprobes", "blacklist")):
    _debugfs = os.path.join(_OUT, "debugfs")
    os.makedirs(os.path.join(_debugfs, "kprobes"), exist_ok=True)
    open(os.path.join(_debugfs, "kprobes", "blacklist"), "w").close()
    _real.DEBUGFS = _debugfs
_objects = 0
_finished = False


def _write(name, data, mode="w"):
    with open(os.path.join(_OUT, name), mode) as f:
        f.write(data)


def _text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def _finish(status):
    """Writes why the tool stopped and ends the process at once (no tracing loop runs)."""
    global _finished
    if _OUT and not _finished:
        _finished = True
        _write("status", status + "\n")
    sys.stdout.flush()
    os._exit(0)


def _at_exit():
    if _OUT and not _finished:
        _write("status", "exit\n")


atexit.register(_at_exit)

_excepthook = sys.excepthook


def _on_exception(kind, value, tb):
    if _OUT and not _finished and kind is not SystemExit:
        line = traceback.format_exception_only(kind, value)[-1].strip()
        _write("status", "error: %s\n" % line.replace("\n", " "))
        globals()["_finished"] = True
    _excepthook(kind, value, tb)


sys.excepthook = _on_exception

# bcc's automatic attachment by function name (BPF._trace_autoload), found in the text.
_AUTOLOAD = re.compile(
    r"\b(kprobe__\w+|kretprobe__\w+|tracepoint__\w+|raw_tracepoint__\w+|kfunc__\w+|"
    r"kretfunc__\w+|lsm__\w+)\s*\(")


class _Table(object):
    """A table handle: setting it up is allowed, reading it means the tool is tracing."""

    def __init__(self, name):
        self.name = name

    def __getattr__(self, attr):
        if attr in ("open_perf_buffer", "open_ring_buffer", "Key", "Leaf"):
            return lambda *a, **k: None
        def consume(*_a, **_k):
            _finish("stopped at table %s" % attr)
        return consume

    def __getitem__(self, key):
        _finish("stopped at table lookup")

    def __setitem__(self, key, value):
        pass

    def __len__(self):
        return 0

    def __iter__(self):
        _finish("stopped at table iteration")


class BPF(_real.BPF):
    def __init__(self, src_file=b"", hdr_file=b"", text=None, debug=0, cflags=[],
                 usdt_contexts=[], allow_rlimit=True, device=None,
                 attach_usdt_ignore_pid=False):
        global _objects
        self.index = _objects
        _objects += 1
        self.tables = {}
        self.funcs = {}
        self.kprobe_fds, self.uprobe_fds, self.tracepoint_fds = {}, {}, {}
        self.raw_tracepoint_fds, self.kfunc_entry_fds, self.kfunc_exit_fds = {}, {}, {}
        self.lsm_fds, self.perf_buffers, self.open_perf_events = {}, {}, {}
        self._ringbuf_manager = None
        self.debug = debug
        self._attached = {}
        if src_file:
            src_file = _real.BPF._find_file(_real._assert_is_bytes(src_file))
            with open(src_file, "rb") as f:
                text = f.read()
        text = _text(text or b"")
        if hdr_file:
            with open(_real.BPF._find_file(_real._assert_is_bytes(hdr_file)), "rb") as f:
                text = _text(f.read()) + "\n" + text
        if usdt_contexts:
            import ctypes as ct
            ctx_array = (ct.c_void_p * len(usdt_contexts))()
            for i, usdt in enumerate(usdt_contexts):
                ctx_array[i] = ct.c_void_p(usdt.get_context())
            usdt_text = _real.lib.bcc_usdt_genargs(ctx_array, len(usdt_contexts))
            if usdt_text is None:
                raise Exception("can't generate USDT probes")
            text = _text(usdt_text) + text
        _write("%d.c" % self.index, text)
        _write("%d.cflags" % self.index, "".join(_text(f) + "\n" for f in cflags))
        for usdt in usdt_contexts:
            for probe in usdt.enumerate_active_probes():
                self._record("uprobe", name=_text(probe[0]), addr=probe[2],
                             fn_name=_text(probe[1]), pid=usdt.pid or -1, usdt=1)
        for match in _AUTOLOAD.finditer(text):
            fn = match.group(1)
            if fn in self._attached:
                continue
            if fn.startswith("kprobe__"):
                self._record("kprobe", event=_text(self.fix_syscall_fnname(fn[8:])),
                             fn_name=fn, auto=1)
            elif fn.startswith("kretprobe__"):
                self._record("kretprobe", event=_text(self.fix_syscall_fnname(fn[11:])),
                             fn_name=fn, auto=1)
            elif fn.startswith("kfunc__") or fn.startswith("kretfunc__") or fn.startswith("lsm__"):
                self._record(fn.split("__")[0], fn_name=fn, auto=1)
            self._attached[fn] = True

    def __del__(self):
        pass

    def _record(self, kind, **fields):
        parts = ["%d" % self.index, kind]
        for k, v in sorted(fields.items()):
            parts.append("%s=%s" % (k, _text(v).replace("\t", " ").replace("\n", " ")))
        _write("attach", "\t".join(parts) + "\n", "a")
        self._attached.setdefault(kind, 0)
        self._attached[kind] += 1

    def load_func(self, func_name, prog_type, device=None, attach_type=-1):
        return _real.BPF.Function(self, _real._assert_is_bytes(func_name), -1)

    def load_funcs(self, prog_type=_real.BPF.KPROBE):
        return []

    def attach_kprobe(self, event=b"", event_off=0, fn_name=b"", event_re=b""):
        if event_re:
            for line in _real.BPF.get_kprobe_functions(_real._assert_is_bytes(event_re)):
                self._record("kprobe", event=line, fn_name=fn_name, regex=1)
            return
        self._record("kprobe", event=event, fn_name=fn_name, offset=event_off)

    def attach_kretprobe(self, event=b"", fn_name=b"", event_re=b"", maxactive=0):
        if event_re:
            for line in _real.BPF.get_kprobe_functions(_real._assert_is_bytes(event_re)):
                self._record("kretprobe", event=line, fn_name=fn_name, regex=1)
            return
        self._record("kretprobe", event=event, fn_name=fn_name)

    def attach_tracepoint(self, tp=b"", tp_re=b"", fn_name=b""):
        if tp_re:
            for tp_name in _real.BPF.get_tracepoints(_real._assert_is_bytes(tp_re)):
                self._record("tracepoint", tp=tp_name, fn_name=fn_name, regex=1)
            return
        self._record("tracepoint", tp=tp, fn_name=fn_name)

    def attach_raw_tracepoint(self, tp=b"", fn_name=b""):
        self._record("raw_tracepoint", tp=tp, fn_name=fn_name)

    def attach_kfunc(self, fn_name=b""):
        self._record("kfunc", fn_name=fn_name)

    def attach_kretfunc(self, fn_name=b""):
        self._record("kretfunc", fn_name=fn_name)

    def attach_lsm(self, fn_name=b""):
        self._record("lsm", fn_name=fn_name)

    def _uprobe(self, kind, name, sym, sym_re, addr, fn_name, pid, sym_off=0):
        path = _text(name)
        if sym_re:
            for sym_name, sym_addr in _real.BPF.get_user_functions_and_addresses(
                    _real._assert_is_bytes(name), _real._assert_is_bytes(sym_re)):
                self._record(kind, name=path, sym=sym_name, fn_name=fn_name, pid=pid, regex=1)
            return
        fields = dict(name=path, fn_name=fn_name, pid=pid)
        if sym:
            fields["sym"] = sym
        if addr is not None:
            fields["addr"] = addr
        if sym_off:
            fields["sym_off"] = sym_off
        self._record(kind, **fields)

    def attach_uprobe(self, name=b"", sym=b"", sym_re=b"", addr=None, fn_name=b"", pid=-1,
                      sym_off=0):
        self._uprobe("uprobe", name, sym, sym_re, addr, fn_name, pid, sym_off)

    def attach_uretprobe(self, name=b"", sym=b"", sym_re=b"", addr=None, fn_name=b"", pid=-1):
        self._uprobe("uretprobe", name, sym, sym_re, addr, fn_name, pid)

    def attach_perf_event(self, ev_type=-1, ev_config=-1, fn_name=b"", sample_period=0,
                          sample_freq=0, pid=-1, cpu=-1, group_fd=-1):
        self._record("perf_event", ev_type=ev_type, ev_config=ev_config, fn_name=fn_name,
                     sample_period=sample_period, sample_freq=sample_freq, pid=pid, cpu=cpu)

    def attach_perf_event_raw(self, attr=-1, fn_name=b"", pid=-1, cpu=-1, group_fd=-1):
        self._record("perf_event_raw", fn_name=fn_name, pid=pid, cpu=cpu)

    def attach_xdp(self, dev, fn=None, flags=0):
        self._record("xdp", dev=dev, fn_name=getattr(fn, "name", fn))

    def attach_func(self, fn, attachable_fd, attach_type, flags=0):
        self._record("func", fn_name=getattr(fn, "name", fn), attach_type=attach_type)

    def attach_raw_socket(self, fn, dev):
        self._record("raw_socket", fn_name=getattr(fn, "name", fn), dev=dev)

    def _count(self, *kinds):
        return sum(v for k, v in self._attached.items() if k in kinds and isinstance(v, int))

    def num_open_kprobes(self):
        return self._count("kprobe", "kretprobe")

    def num_open_uprobes(self):
        return self._count("uprobe", "uretprobe")

    def num_open_tracepoints(self):
        return self._count("tracepoint")

    def __getitem__(self, key):
        key = _text(key)
        if key not in self.tables:
            self.tables[key] = _Table(key)
        return self.tables[key]

    def get_table(self, name, keytype=None, leaftype=None, reducer=None):
        return self[name]

    def __setitem__(self, key, leaf):
        pass

    def __contains__(self, key):
        return True

    def perf_buffer_poll(self, timeout=-1):
        _finish("stopped at perf_buffer_poll")

    def ring_buffer_poll(self, timeout=-1):
        _finish("stopped at ring_buffer_poll")

    def ring_buffer_consume(self):
        _finish("stopped at ring_buffer_consume")

    def trace_print(self, fmt=None):
        _finish("stopped at trace_print")

    def trace_fields(self, nonblocking=False):
        _finish("stopped at trace_fields")

    def trace_readline(self, nonblocking=False):
        _finish("stopped at trace_readline")

    def kprobe_poll(self, timeout=-1):
        _finish("stopped at kprobe_poll")

    def cleanup(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


# BPF.support_kfunc() picks fentry programs where the kernel has trampolines; bpflua's
# runner measures the kprobe variants unless BCC_COMPAT_KFUNC=1 (fentry/LSM are separate work).
if os.environ.get("BCC_COMPAT_KFUNC") != "1":
    BPF.support_kfunc = staticmethod(lambda: False)
    BPF.support_lsm = staticmethod(lambda: False)
