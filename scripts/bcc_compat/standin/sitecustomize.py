# Loaded by Python at start-up (this directory is first on PYTHONPATH) before a bcc tool's
# own imports, so that a tool which imports time.sleep before bcc still stops at its first
# sleep instead of tracing. See bcc/__init__.py for the recorder itself.
import os
import signal
import time

if os.environ.get("BCC_COMPAT_OUT"):
    def _stop_at_sleep(*_args, **_kwargs):
        import bcc
        bcc._finish("stopped at sleep")

    def _timed_out(*_args):
        import bcc
        bcc._finish("timeout")

    time.sleep = _stop_at_sleep
    signal.pause = _stop_at_sleep
    signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(int(os.environ.get("BCC_COMPAT_TIMEOUT", "30")))
