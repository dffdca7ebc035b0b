"""The `nbnumba` console script. A plain `nbnumba simulate FLAGS...` goes straight to the simulation
without importing click; everything else (--help, --version, bench, errors in the command line of
the group itself) goes through the click group in `nbnumba.cli.main`. Either way the process ends
with os._exit, which skips the interpreter's teardown (and numba's, when it was loaded)."""
import gc
import os
import signal
import sys


def _plain_simulate(argv):
    # "--help", "-h" and "--" mean something to click's parser for the simulate command; leave them to it
    return argv[:1] == ["simulate"] and not any(a in ("--help", "-h", "--") for a in argv[1:])


def entry(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        # Ctrl-C as Interrupted, a BaseException that click does not turn into "Aborted!" and exit 1; the
        # commands that stop cleanly put their own handling in place over this
        from ..interrupt import raise_at_start
        signal.signal(signal.SIGINT, raise_at_start)
        if _plain_simulate(argv):
            # NumPy's BLAS is never used for work here; one thread spares starting its pool (~7 ms)
            os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
            # a short run makes no garbage cycles worth collecting: no collector passes while importing
            gc.disable()
            from .simulate import simulate
            code = simulate(argv[1:])
        else:
            from .main import main
            main(argv, prog_name="nbnumba")
            code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except KeyboardInterrupt:
        # Ctrl-C before the handler above was in place (while Python imported this module)
        sys.stderr.write("nbnumba: interrupted\n")
        code = 130
    except BaseException as e:
        from ..interrupt import Interrupted
        if not isinstance(e, Interrupted):
            raise
        # Ctrl-C in a command without handling of its own (show, compare, refine, ...), or while it loads
        sys.stderr.write("nbnumba: interrupted by %s\n" % e.name)
        code = e.exit_code
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:         # a reader that went away (`| head`) is not an error of the run
            pass
    os._exit(code)


if __name__ == "__main__":
    entry()
