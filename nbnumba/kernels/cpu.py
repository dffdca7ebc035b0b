"""The CPU drivers: deal a render's chunks (exact) or tiles (fast) out to plain threads, each calling a
compiled entry that runs without the GIL. numba is not imported here (see nbnumba.kernels.native).

Every renderer has the signature of `render_exact`, so the plan, the serial-order rules and the outputs
are shared by all of them, the CUDA one included.
"""
import os
import threading
import time

import numpy as np

from .layout import (CHUNK, F_DEFAULT_F, F_NA, F_NB, F_NC, F_ROWS, I_HKLS, I_HRANGE, I_KRANGE, I_LRANGE,
                     I_OS_OMEGA, I_OS_POLAR, I_OS_THICK, I_ROWS, TILE)
from .native import kernel


def usable_threads(threads=0):
    """`threads` if positive, else NUMBA_NUM_THREADS when set, else every CPU this process may use."""
    if threads and threads > 0:
        return int(threads)
    env = os.environ.get("NUMBA_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _in_threads(nthreads, call):
    """call(k) for k in range(nthreads), in that many threads; the first error is raised here."""
    if nthreads <= 1:
        call(0)
        return
    errors = []

    def work(k):
        try:
            call(k)
        except BaseException as e:     # re-raised below, in the caller's thread
            errors.append(e)

    pool = [threading.Thread(target=work, args=(k,)) for k in range(nthreads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]


def _c(a):
    return np.ascontiguousarray(a)


def render_exact(order, start, fresh, interp_until, ip, fp, det, polar_axis, sources, cells, recip, Fhkl,
                 image, omega, switched, threads=0):
    """Renders order[start:] into image (float32, C's store), omega and switched (per list position)."""
    plan = tuple(_c(a) for a in (ip, fp, det, polar_axis, sources, cells, recip, Fhkl))
    entry = kernel("render_exact")
    chunks = (order.shape[0] - start + CHUNK - 1) // CHUNK
    n = max(1, min(usable_threads(threads), chunks))
    _in_threads(n, lambda k: entry(k, n, order, start, fresh, interp_until, *plan, image, omega, switched))


def covered(ip, fp):
    """Whether the fast kernel's tiled path applies to the plan at all (otherwise every pixel goes exact)."""
    if ip[I_OS_THICK] or ip[I_OS_POLAR] or ip[I_OS_OMEGA]:
        return False
    return all(float(fp[i]).is_integer() and fp[i] >= 1.0 for i in (F_NA, F_NB, F_NC))


def padded_f2(ip, Fhkl, default_F):
    """F^2 in a flat table with one layer of default_F^2 around the h_min..h_max (etc.) box, which
    lookups clamp into; the reader's extra zero layer beyond h_max is never read (as in C)."""
    if ip[I_HKLS] == 0:
        return np.full(1, default_F * default_F), np.zeros(3, np.int64)
    H, K, L = int(ip[I_HRANGE]), int(ip[I_KRANGE]), int(ip[I_LRANGE])
    t = np.full((H + 2, K + 2, L + 2), default_F * default_F)
    t[1:-1, 1:-1, 1:-1] = Fhkl[:H, :K, :L] * Fhkl[:H, :K, :L]
    return t.reshape(-1), np.array([H, K, L], np.int64)


# a render with `progress` hands its tiles out in about this many chunks
STREAM_CHUNKS = 64


def render_fast(order, start, fresh, interp_until, ip, fp, det, polar_axis, sources, cells, recip, Fhkl,
                image, omega, switched, threads=0, progress=None):
    """render_exact's contract with the fast kernel (kernels/fast.py). With `progress`, progress(m) is
    called (in order, one call at a time) as soon as list positions start..m-1 are all final, for a
    consumer working behind the render (the image is the same either way; see _streamed)."""
    if not covered(ip, fp):
        render_exact(order, start, fresh, interp_until, ip, fp, det, polar_axis, sources, cells, recip, Fhkl,
                     image, omega, switched, threads)
        return
    plan = tuple(_c(a) for a in (ip, fp, det, polar_axis, sources, cells, recip, Fhkl))
    f2, dims = padded_f2(ip, Fhkl, float(fp[F_DEFAULT_F]))
    cell_list = np.ascontiguousarray(cells[1].reshape(-1, 9))
    entry = kernel("render_fast")
    tiles = (order.shape[0] - start + TILE - 1) // TILE
    n = max(1, min(usable_threads(threads), tiles))
    fscratch = np.empty((n, F_ROWS, TILE))
    iscratch = np.empty((n, I_ROWS, TILE), np.int64)

    def tiles_of(k, first, stride, last):
        entry(first, stride, last, order, start, fresh, interp_until, *plan, cell_list, f2, dims, image, omega,
              switched, fscratch[k], iscratch[k])

    if progress is None:
        _in_threads(n, lambda k: tiles_of(k, k, n, tiles))
    else:
        _streamed(n, tiles, tiles_of, lambda t: progress(min(start + t * TILE, order.shape[0])),
                  getattr(progress, "remaining_s", None))


def _streamed(n, tiles, tiles_of, done_upto, consumer_left):
    """Renders the tiles in chunks handed out in order to whichever of the n threads is free (tiles
    are independent: any thread may render any of them) and calls done_upto(t) whenever tiles 0..t-1
    have all finished. The consumer of those tiles is itself a serial pass in another thread: the last
    thread leaves the render to the others, and its CPU to the consumer, once the consumer's remaining
    work (consumer_left(), seconds of one CPU) outlasts what the others have left to render."""
    size = -(-tiles // STREAM_CHUNKS)
    count = -(-tiles // size)
    finished = [False] * count
    state = {"next": 0, "prefix": 0, "busy": 0.0, "chunks": 0}
    lock = threading.Lock()

    def work(k):
        while True:
            with lock:
                c = state["next"]
                if c >= count:
                    return
                if k == n - 1 and n > 1 and consumer_left is not None and state["chunks"]:
                    left = (count - c) * state["busy"] / state["chunks"]
                    if consumer_left() >= left / (n - 1):
                        return
                state["next"] = c + 1
            t0 = time.perf_counter()
            tiles_of(k, c * size, 1, min((c + 1) * size, tiles))
            with lock:
                state["busy"] += time.perf_counter() - t0
                state["chunks"] += 1
                finished[c] = True
                p = state["prefix"]
                while p < count and finished[p]:
                    p += 1
                if p > state["prefix"]:
                    state["prefix"] = p
                    done_upto(min(p * size, tiles))

    _in_threads(n, work)


def first_phi_positions(order, block_starts, ip, fp, det, sources):
    """For each emulated thread block, the first list position whose pixel runs the phi loop (-1 if none)."""
    out = np.empty(block_starts.shape[0] - 1, np.int64)
    kernel("first_phi_positions")(order, block_starts, _c(ip), _c(fp), _c(det), _c(sources), out)
    return out
