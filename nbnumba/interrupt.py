"""Ctrl-C and SIGTERM: the command line turns either into an Interrupted exception in the main thread.

A render notices it between pieces (kernels/cpu.py: its threads finish the piece they are in, a
fraction of a second), the output transaction removes what it staged, and the process exits with
128 + the signal number (130, 143) after one line on stderr."""
import signal
import threading


class Interrupted(BaseException):
    """Raised in the main thread by the handlers of `stopping_on_signals`. A BaseException, like
    KeyboardInterrupt, so that no `except Exception` swallows it."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum
        self.exit_code = 128 + signum

    @property
    def name(self):
        return signal.Signals(self.signum).name


# A signal whose Interrupted was raised where C code drops it (compile(), while Python imports a module,
# checks for signals and clears the error): the console entry's handler (raise_at_start) notes it here,
# and the next stopping_on_signals block raises it again before it starts
pending = None


def raise_at_start(signum, frame):
    """The SIGINT handler of the console entry, before a command has its own: Interrupted, noted."""
    global pending
    pending = signum
    raise Interrupted(signum)


class stopping_on_signals:
    """Within the block, SIGINT and SIGTERM raise Interrupted (once: a second signal while the first
    is being handled is ignored, so clean-up runs to its end). Only in the main thread."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __enter__(self):
        global pending
        if pending is not None:
            signum, pending = pending, None
            raise Interrupted(signum)
        self._old = {}
        self._raised = False
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        if self._raised:
            return
        self._raised = True
        raise Interrupted(signum)

    def __exit__(self, *exc):
        for s, old in self._old.items():
            signal.signal(s, old)
        return False
