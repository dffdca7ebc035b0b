"""Dask preload for the worker processes of `nbnumba batch`'s LocalCluster: Ctrl-C at a terminal reaches
every process of the foreground group, and the driver alone answers it (it closes the cluster); a worker
that took it too would die with a traceback on the user's terminal."""
import logging
import signal
import threading


def dask_setup(worker):
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    # the worker's own log lines (heartbeats to a scheduler that has closed) are not the user's concern
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
