"""The CPU drivers: deal a render's chunks (exact) or tiles (fast) out to plain threads, each calling a
compiled entry that runs without the GIL. numba is not imported here (see nbnumba.kernels.native).

Every renderer has the signature of `render_exact`, so the plan, the serial-order rules and the outputs
are shared by all of them, the CUDA one included. `arrays` is the plan's arrays in layout.PLAN_ARRAYS
order (Plan.arrays()).
"""
import os
import threading
import time

import numpy as np

from . import tunables
from .layout import F_ROWS, I_ROWS, PLAN_ARRAYS
from .native import kernel


def usable_threads(threads=0):
    """`threads` if positive, else NUMBA_NUM_THREADS when set, else every CPU this process may use."""
    if threads and threads > 0:
        return int(threads)
    env = os.environ.get("NUMBA_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _in_threads(nthreads, call, stop):
    """call(k) for k in range(nthreads), in that many threads; the first error is raised here. When the
    caller is interrupted while it waits (Ctrl-C), `stop` is set and every thread is waited for (each
    returns after its current piece) before the interrupt goes on."""
    if nthreads <= 1:
        call(0)
        return
    errors = []

    def work(k):
        try:
            call(k)
        except BaseException as e:     # re-raised below, in the caller's thread
            stop.set()
            errors.append(e)

    pool = [threading.Thread(target=work, args=(k,)) for k in range(nthreads)]
    try:
        for t in pool:
            t.start()
        for t in pool:
            while t.is_alive():
                # short waits: a signal delivered to another thread is handled here within 0.1 s
                t.join(0.1)
    except BaseException:
        stop.set()
        for t in pool:
            if t.ident is not None:
                t.join()
        raise
    if errors:
        raise errors[0]


def _c(a):
    return np.ascontiguousarray(a)


def render_exact(order, start, fresh, interp_until, arrays, image, omega, switched, threads=0, progress=None):
    """Renders order[start:] into image (float32, C's store), omega and switched (per list position).
    With `progress`, progress(m) is called (in order, one call at a time) as soon as list positions
    start..m-1 have all been rendered; a `remaining_s` method on it makes it a consumer (_in_pieces)."""
    plan = _plan(arrays)
    entry = kernel("render_exact")
    n = order.shape[0]
    chunk = max(1, int(tunables.CHUNK))
    chunks = (n - start + chunk - 1) // chunk

    def chunks_of(k, lo, hi):
        # the entry renders order[start:]: a shorter list and a later start bound it to these chunks
        entry(0, 1, order[:min(start + hi * chunk, n)], start + lo * chunk, fresh, interp_until, *plan, image,
              omega, switched)

    _in_pieces(usable_threads(threads), chunks, chunks_of,
               None if progress is None else lambda c: progress(min(start + c * chunk, n)),
               getattr(progress, "remaining_s", None))


def _plan(arrays):
    """The plan's arrays, checked against layout.PLAN_ARRAYS and C-ordered, for an entry's call."""
    if len(arrays) != len(PLAN_ARRAYS):
        raise TypeError("a plan has %d arrays (%s), not %d"
                        % (len(PLAN_ARRAYS), ", ".join(n for n, _, _ in PLAN_ARRAYS), len(arrays)))
    return tuple(_c(a) for a in arrays)


def covered(params):
    """Whether the fast kernel's tiled path applies to the plan at all (otherwise every pixel goes exact):
    not with C's running-sum quirks (-oversample_thick, _polar, _omega). Any N: the fast kernel's lattice
    factor is the reduced form, which pixel.lattice_factor also takes for a non-integer N."""
    prm = params[0]
    return not (prm["oversample_thick"] or prm["oversample_polar"] or prm["oversample_omega"])


def padded_f2(params, Fhkl):
    """F^2 in a flat table with one layer of default_F^2 around the h_min..h_max (etc.) box, which
    lookups clamp into; the reader's extra zero layer beyond h_max is never read (as in C)."""
    prm = params[0]
    default_F = float(prm["default_F"])
    if prm["hkls"] == 0:
        return np.full(1, default_F * default_F), np.zeros(3, np.int64)
    H, K, L = int(prm["h_range"]), int(prm["k_range"]), int(prm["l_range"])
    t = np.full((H + 2, K + 2, L + 2), default_F * default_F)
    with np.errstate(over="ignore"):        # F beyond 1e154 squares to inf, as in C's own F*F
        t[1:-1, 1:-1, 1:-1] = Fhkl[:H, :K, :L] * Fhkl[:H, :K, :L]
    return t.reshape(-1), np.array([H, K, L], np.int64)


def render_fast(order, start, fresh, interp_until, arrays, image, omega, switched, threads=0, progress=None):
    """render_exact's contract with the fast kernel (kernels/fast.py)."""
    plan = _plan(arrays)
    named = dict(zip((n for n, _, _ in PLAN_ARRAYS), plan))
    if not covered(named["params"]):
        render_exact(order, start, fresh, interp_until, plan, image, omega, switched, threads, progress)
        return
    f2, dims = padded_f2(named["params"], named["Fhkl"])
    cell_list = np.ascontiguousarray(named["cells"][1].reshape(-1, 9))
    entry = kernel("render_fast")
    n = order.shape[0]
    tile = max(1, int(tunables.TILE))
    tiles = (n - start + tile - 1) // tile
    threads = max(1, min(usable_threads(threads), tiles))
    # the rows' length is the tile length the entry walks in
    fscratch = np.empty((threads, F_ROWS, tile))
    iscratch = np.empty((threads, I_ROWS, tile), np.int64)

    def tiles_of(k, lo, hi):
        entry(lo, 1, hi, order, start, fresh, interp_until, *plan, cell_list, f2, dims, image, omega,
              switched, fscratch[k], iscratch[k])

    _in_pieces(threads, tiles, tiles_of, None if progress is None else lambda t: progress(min(start + t * tile, n)),
               getattr(progress, "remaining_s", None))


def _in_pieces(n, units, run_units, done_upto=None, consumer_left=None):
    """Runs units 0..units-1 (tiles or chunks, independent of each other) as pieces handed out in
    order to whichever of the n threads is free: run_units(k, lo, hi) renders units lo..hi-1 in
    thread k. done_upto(u), if given, is called (under a lock, so in order) whenever units 0..u-1
    have all finished. The first piece is one unit; later ones follow the measured rate (each about
    tunables.PIECE_S long).

    A consumer of the finished units may work behind the render in another thread, on the same CPUs:
    consumer_left() tells its remaining work in seconds of one CPU, and the last thread leaves the
    render to the others, and its CPU to the consumer, once that outlasts what the others have left."""
    n = max(1, min(n, units))
    piece_s = tunables.PIECE_S
    pieces = []                    # [lo, hi, finished], in hand-out order, which is unit order
    state = {"next": 0, "prefix": 0, "busy": 0.0, "units": 0}
    lock = threading.Lock()
    stop = threading.Event()

    def work(k):
        while not stop.is_set():
            with lock:
                lo = state["next"]
                if lo >= units:
                    return
                per_unit = state["busy"] / state["units"] if state["units"] else 0.0
                if k == n - 1 and n > 1 and consumer_left is not None and state["units"]:
                    if consumer_left() >= (units - lo) * per_unit / (n - 1):
                        return
                size = int(piece_s / per_unit) if per_unit > 0.0 else 1
                hi = lo + max(1, min(size, -(-(units - lo) // n)))
                state["next"] = hi
                piece = [lo, hi, False]
                pieces.append(piece)
            t0 = time.perf_counter()
            run_units(k, lo, hi)
            with lock:
                state["busy"] += time.perf_counter() - t0
                state["units"] += hi - lo
                piece[2] = True
                i = state["prefix"]
                while i < len(pieces) and pieces[i][2]:
                    i += 1
                if i > state["prefix"]:
                    state["prefix"] = i
                    if done_upto is not None:
                        done_upto(pieces[i - 1][1])

    if units > 0:
        _in_threads(n, work, stop)


def first_phi_positions(order, block_starts, params, det, sources):
    """For each emulated thread block, the first list position whose pixel runs the phi loop (-1 if none)."""
    out = np.empty(block_starts.shape[0] - 1, np.int64)
    kernel("first_phi_positions")(order, block_starts, _c(params), _c(det), _c(sources), out)
    return out
