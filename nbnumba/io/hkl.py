"""nanoBragg's hkl reader (C 2140-2207): two fscanf passes over `h k l F` text.

Pass 1 reads records of four %lg to find the index ranges and count `hkls`; pass 2 rewinds and
reads %d%d%d%lg, so an index written `1.0` stops pass 2 at once (quirk B4) and a fifth column
shifts the records of both passes, differently (quirk B5). The grid has one extra zero layer on
each axis; default_F fills only [0, range) (quirk B6).
"""
import math
from dataclasses import dataclass

import numpy as np

from ..errors import NanoBraggError
from .cscan import CStream, c_g, double_to_int, wrap_int32

# refuse grids this large instead of exhausting memory (C's calloc would fail: exit 9)
MAX_CELLS = 1 << 31


@dataclass
class HklTable:
    Fhkl: np.ndarray          # float64, (h_range+1, k_range+1, l_range+1)
    h_min: int
    h_max: int
    h_range: int
    k_min: int
    k_max: int
    k_range: int
    l_min: int
    l_max: int
    l_range: int
    hkls: int


def _read_bytes(path):
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except IsADirectoryError:
        return b""  # fopen() of a folder works on Linux; every read then fails
    except OSError:
        raise NanoBraggError("%s: unable to open (-hkl)" % path) from None


def allocate_grid(h_range, k_range, l_range, path):
    cells = (h_range + 1) * (k_range + 1) * (l_range + 1)
    if cells > MAX_CELLS:
        raise NanoBraggError("%s: a %dx%dx%d structure-factor grid is too large"
                             % (path, h_range + 1, k_range + 1, l_range + 1))
    from ..checks import check_memory
    # the grid, and the fast kernel's table of F^2 beside it
    check_memory(2 * 8 * cells, "%s: a %dx%dx%d structure-factor grid" % (path, h_range + 1, k_range + 1, l_range + 1))
    try:
        return np.zeros((h_range + 1, k_range + 1, l_range + 1), dtype=np.float64)
    except MemoryError:
        raise NanoBraggError("Cannot allocate memory (%s)" % path) from None


def _non_integer(v):
    """C's test h != ceil(h-0.4): true for NaN, false for +-inf."""
    if math.isfinite(v):
        return v != math.ceil(v - 0.4)
    return math.isnan(v)


def _plain_records(data):
    """(h, k, l, F) arrays for a file made only of records "h k l F" with plain integer indices below
    1e9 and a decimal F, else None (use the fscanf emulation). Both of C's passes read such a file's
    records whole, so a one-pass parse gives exactly the same table."""
    from ..kernels.layout import HKL_NOT_PLAIN, HKL_SLOW_F
    from ..kernels.native import kernel
    cap = (len(data) + 1) // 8 + 1          # a record and its separator take at least 8 bytes
    hkl = np.empty((cap, 3), np.int64)
    F = np.empty(cap, np.float64)
    count = kernel("hkl_scan")(np.frombuffer(data, np.uint8), hkl, F)
    if count == HKL_NOT_PLAIN:
        return None
    if count == HKL_SLOW_F:
        # a long or far-out F: NumPy's correctly rounded parser, as strtod reads it
        F = np.array(data.split()[3::4], dtype=np.float64)
        count = F.size
    return hkl[:count, 0], hkl[:count, 1], hkl[:count, 2], F[:count]


def _plain_table(path, recs, default_F, log):
    """read_hkl for a plain file, vectorised: the same ranges, log lines and grid."""
    h, k, l, F = recs
    log("counting entries in %s" % path)
    lo = [int(v.min()) if v.size else 1000000000 for v in (h, k, l)]
    hi = [int(v.max()) if v.size else -1000000000 for v in (h, k, l)]
    rng = [wrap_int32(b - a + 1) for a, b in zip(lo, hi)]
    if min(rng) < 0:
        for name, a, b in zip("hkl", lo, hi):
            log("%s: %d - %d" % (name, a, b))
        raise NanoBraggError("not enough HKL indices in %s" % path)
    Fhkl = allocate_grid(rng[0], rng[1], rng[2], path)
    if default_F != 0.0:
        log("initializing to default_F = %s:" % c_g(default_F))
        Fhkl[:rng[0], :rng[1], :rng[2]] = default_F
        log("done initializing:")
    log("re-reading %s" % path)
    # a repeated hkl keeps its last record, as C's sequential writes do
    flat = np.ravel_multi_index((h - lo[0], k - lo[1], l - lo[2]), Fhkl.shape)
    _, first_from_end = np.unique(flat[::-1], return_index=True)
    last = flat.size - 1 - first_from_end
    Fhkl.flat[flat[last]] = F[last]
    return HklTable(Fhkl, lo[0], hi[0], rng[0], lo[1], hi[1], rng[1], lo[2], hi[2], rng[2], wrap_int32(h.size))


def _scanned_records(data, fmt, stopped_at=None, starts=None):
    """C's `while(4 == fscanf(...))` loop; `stopped_at` (a list) receives the byte offset where it
    stopped when unread text remains; `starts` (a one-element list) the offset of the record read last."""
    stream = CStream(data)
    while True:
        start = stream.pos
        count, rec = stream.scanf(fmt)
        if count != 4:
            if stopped_at is not None and data[start:].strip():
                stopped_at.append(start + len(data[start:]) - len(data[start:].lstrip()))
            return
        if starts is not None:
            starts[0] = start
        yield rec


def _index_error(path, data, start, name, v):
    """An index C's int cannot hold ((int) of it is INT_MIN: C's ranges and grid would be garbage)."""
    stream = CStream(data)
    stream.pos = start
    stream.skip_space()
    line, _ = _line_at(data, stream.pos)
    text = c_g(v) if not math.isfinite(v) or abs(v) < 1e15 else "%.3g" % v
    return NanoBraggError("%s line %d: the index %s = %s is out of range (nanoBragg's indices are ints, "
                          "|index| < 2^31)" % (path, line, name, text))


def _line_at(data, offset):
    """(1-based line number, the line's text) of a byte offset."""
    line = data.count(b"\n", 0, offset) + 1
    begin = data.rfind(b"\n", 0, offset) + 1
    end = data.find(b"\n", offset)
    return line, data[begin:end if end >= 0 else len(data)].decode("latin-1").strip()


def read_hkl(path, default_F, log=print, warn=None) -> HklTable:
    """The structure factors of an hkl file as nanoBragg.c reads them; `log` gets C's stdout lines."""
    data = _read_bytes(path)
    plain = _plain_records(data)
    if plain is not None:
        return _plain_table(path, plain, default_F, log)
    # C's ints start at +-1e9 and take each pass-1 double by truncation (C 2149-2163)
    h_min = k_min = l_min = 1000000000
    h_max = k_max = l_max = -1000000000
    hkls = 0
    log("counting entries in %s" % path)
    stop1, stop2 = [], []
    starts = [0]
    for h, k, l, _ in _scanned_records(data, "%lg%lg%lg%lg", stop1, starts):
        for name, v in (("h", h), ("k", k), ("l", l)):
            if abs(v) >= 2.0**31:  # inf too; a NaN index is C's warning below
                raise _index_error(path, data, starts[0], name, v)
            if _non_integer(v):
                log("WARNING: non-integer value for %s (%s) at line %d" % (name, c_g(v), hkls))
        if h_min > h:
            h_min = double_to_int(h)
        if k_min > k:
            k_min = double_to_int(k)
        if l_min > l:
            l_min = double_to_int(l)
        if h_max < h:
            h_max = double_to_int(h)
        if k_max < k:
            k_max = double_to_int(k)
        if l_max < l:
            l_max = double_to_int(l)
        hkls = wrap_int32(hkls + 1)
    h_range = wrap_int32(h_max - h_min + 1)
    k_range = wrap_int32(k_max - k_min + 1)
    l_range = wrap_int32(l_max - l_min + 1)
    if h_range < 0 or k_range < 0 or l_range < 0:
        log("h: %d - %d" % (h_min, h_max))
        log("k: %d - %d" % (k_min, k_max))
        log("l: %d - %d" % (l_min, l_max))
        raise NanoBraggError("not enough HKL indices in %s" % path)
    Fhkl = allocate_grid(h_range, k_range, l_range, path)
    if default_F != 0.0:
        log("initializing to default_F = %s:" % c_g(default_F))
        Fhkl[:h_range, :k_range, :l_range] = default_F
        log("done initializing:")
    log("re-reading %s" % path)
    for entry, (h0, k0, l0, F) in enumerate(_scanned_records(data, "%d%d%d%lg", stop2)):
        i, j, m = h0 - h_min, k0 - k_min, l0 - l_min
        if not (0 <= i <= h_range and 0 <= j <= k_range and 0 <= m <= l_range):
            # only a misaligned file gets here; C then writes outside its arrays
            raise NanoBraggError("%s: record %d (%d %d %d) of the second hkl pass lies outside the "
                                 "ranges of the first (nanoBragg.c would corrupt memory)"
                                 % (path, entry, h0, k0, l0))
        Fhkl[i, j, m] = F
    if warn is not None:
        # nanoBragg.c stops silently at the first record it cannot read; we keep its result and say so
        for what, stop in (("reading", stop1), ("the second (integer-index) pass", stop2)):
            if stop:
                line, text = _line_at(data, stop[0])
                warn("WARNING: %s: %s stopped at line %d (%r); the rest of the file is ignored, as "
                     "nanoBragg.c does" % (path, what, line, text))
                break
    return HklTable(Fhkl, h_min, h_max, h_range, k_min, k_max, k_range, l_min, l_max, l_range, hkls)
