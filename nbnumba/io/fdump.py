"""nanoBragg's structure-factor cache Fdump.bin (written C 2227-2242, read C 2104-2129).

Layout: the text "%d %d %d %d %d %d\\n\\f" (h_min h_max k_min k_max l_min l_max), then the whole
(h_range+1, k_range+1, l_range+1) grid as native (little-endian) doubles, extra zero layers
included. C reads the header back with fscanf("%d%d%d%d%d%d\\n\\f"), whose whitespace directives
swallow every whitespace byte that follows, including leading bytes of the first double(s) when
they are 0x09-0x0D or 0x20: the grid is then read shifted (quirk B3), and we do the same.
"""
import numpy as np

from ..errors import NanoBraggError
from .atomic import atomic_write
from .cscan import CStream, wrap_int32
from .hkl import HklTable, allocate_grid


def fdump_parts(table: HklTable):
    """The dump file as (header bytes, grid array), the grid uncopied where it can be."""
    head = "%d %d %d %d %d %d\n\f" % (table.h_min, table.h_max, table.k_min, table.k_max,
                                       table.l_min, table.l_max)
    return head.encode("ascii"), np.ascontiguousarray(table.Fhkl, dtype="<f8")


def fdump_bytes(table: HklTable) -> bytes:
    head, grid = fdump_parts(table)
    return head + grid.tobytes()


def write_fdump(path, table: HklTable):
    atomic_write(path, *fdump_parts(table))


def read_fdump(path, log=None) -> HklTable:
    """The table C rebuilds from a dump file. C prints nothing on stdout here (`log` is unused).

    A file shorter than the grid leaves the rest 0 (each fread fills what it can, calloc did the
    rest); bytes beyond the grid are ignored. A header with fewer than six ints leaves C's ranges
    uninitialised: that raises NanoBraggError.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except IsADirectoryError:
        data = b""
    except OSError as e:
        raise NanoBraggError("%s: %s" % (path, e.strerror)) from None
    stream = CStream(data)
    count, vals = stream.scanf("%d%d%d%d%d%d\n\f")
    if count != 6:
        raise NanoBraggError("%s: not a structure-factor dump (%d of its 6 header numbers read)"
                             % (path, max(count, 0)))
    h_min, h_max, k_min, k_max, l_min, l_max = vals
    for name, lo, hi in (("h", h_min, h_max), ("k", k_min, k_max), ("l", l_min, l_max)):
        # nanoBragg writes min <= max; C reads inverted ranges into an empty grid (default_F everywhere)
        if lo > hi or hi - lo + 1 >= 2**31:
            raise NanoBraggError("%s: garbled structure-factor dump header (%s range %d to %d); delete it or "
                                 "give -hkl" % (path, name, lo, hi))
    h_range = wrap_int32(h_max - h_min + 1)
    k_range = wrap_int32(k_max - k_min + 1)
    l_range = wrap_int32(l_max - l_min + 1)
    hkls = wrap_int32(h_range * k_range * l_range)
    # C's loops run h0 <= h_range, k0 <= k_range: a negative range allocates and reads nothing
    nh = max(h_range + 1, 0)
    nk = max(k_range + 1, 0) if nh else 0
    if nh and nk and l_range + 1 < 0:
        raise NanoBraggError("%s: garbled structure-factor dump (l range %d; nanoBragg.c would crash)"
                             % (path, l_range))
    nl = max(l_range + 1, 0)
    if nh == 0 or nk == 0:
        grid = np.zeros((nh, nk, nl), dtype=np.float64)
    else:
        grid = allocate_grid(nh - 1, nk - 1, nl - 1, path)
        body = stream.rest()[:grid.size * 8]
        flat = grid.reshape(-1)
        n = len(body) // 8
        flat[:n] = np.frombuffer(body[:n * 8], dtype="<f8")
        if len(body) % 8:  # fread copies the bytes of a last partial double into the zeroed slot
            tail = body[n * 8:] + bytes(8 - len(body) % 8)
            flat[n] = np.frombuffer(tail, dtype="<f8")[0]
    return HklTable(grid, h_min, h_max, h_range, k_min, k_max, k_range, l_min, l_max, l_range, hkls)
