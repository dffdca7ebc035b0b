"""Dask preload for the worker processes of `nbnumba batch`'s LocalCluster: Ctrl-C at a terminal reaches
every process of the foreground group, and the driver alone answers it (it closes the cluster); a worker
that took it too would die with a traceback on the user's terminal. The worker process starts with SIGINT
blocked (runner: the signal mask of the thread that spawns it), so no Ctrl-C reaches it before this runs;
here it is ignored outright. Dask's log lines and warnings in the worker (its stderr is the user's
terminal) are not the user's concern: what matters about an image is in its record."""
import logging
import signal
import threading
import warnings

QUIET = ("distributed", "tornado", "bokeh")


class _DaskRecords(logging.Filter):
    def filter(self, record):
        return not any(record.name == root or record.name.startswith(root + ".") for root in QUIET)


def dask_setup(worker):
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a filter on every handler Dask's records can reach (a logger's level would not stop a child logger
    # with a level of its own, nor one made later); logging.lastResort prints where no handler is found
    drop = _DaskRecords()
    handlers = [*logging.getLogger().handlers, *[h for root in QUIET for h in logging.getLogger(root).handlers]]
    for handler in [*handlers, logging.lastResort]:
        if handler is not None:
            handler.addFilter(drop)
    warnings.filterwarnings("ignore", module=r"(distributed|dask|tornado|bokeh)(\..*)?\Z")
