"""nanoBragg's hkl reader: two passes over `h k l F` text with C's fscanf semantics (C 2140-2226).

Pass 1 reads four %lg per record to find the index ranges; pass 2 re-reads with %d%d%d%lg, so an index
written as `1.0` stops pass 2 at once (quirk B4) and a fifth column shifts both passes (quirk B5).
The grid has one extra zero layer on each axis; default_F fills only [0, range) (quirk B6).
"""
import math
from dataclasses import dataclass

import numpy as np

from ..errors import NanoBraggError
from .cscan import Scanner


@dataclass
class HklTable:
    Fhkl: np.ndarray          # (h_range+1, k_range+1, l_range+1)
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


def _c_int(x):
    """C's double -> int conversion (truncation; out-of-range and NaN give INT_MIN on x86-64)."""
    if math.isnan(x) or abs(x) >= 2**31:
        return -(1 << 31)
    return int(x)


def read_hkl(path, default_F, log=print):
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        raise NanoBraggError("unable to open %s (-hkl)" % path) from None
    h_min = k_min = l_min = 1000000000
    h_max = k_max = l_max = -1000000000
    hkls = 0
    log("counting entries in %s" % path)
    sc = Scanner(data)
    while True:
        rec = []
        for _ in range(4):
            v = sc.lg()
            if v is None:
                break
            rec.append(v)
        if len(rec) < 4:
            break
        h, k, l, _F = rec
        for name, v in (("h", h), ("k", k), ("l", l)):
            if v != np.ceil(v - 0.4):
                log("WARNING: non-integer value for %s (%g) at line %d" % (name, v, hkls))
        if h_min > h:
            h_min = _c_int(h)
        if k_min > k:
            k_min = _c_int(k)
        if l_min > l:
            l_min = _c_int(l)
        if h_max < h:
            h_max = _c_int(h)
        if k_max < k:
            k_max = _c_int(k)
        if l_max < l:
            l_max = _c_int(l)
        hkls += 1
    h_range = h_max - h_min + 1
    k_range = k_max - k_min + 1
    l_range = l_max - l_min + 1
    if h_range < 0 or k_range < 0 or l_range < 0:
        raise NanoBraggError("not enough HKL indices in %s" % path)
    Fhkl = np.zeros((h_range + 1, k_range + 1, l_range + 1))
    if default_F != 0.0:
        log("initializing to default_F = %g:" % default_F)
        Fhkl[:h_range, :k_range, :l_range] = default_F
        log("done initializing:")
    log("re-reading %s" % path)
    sc = Scanner(data)
    while True:
        h0 = sc.d()
        k0 = sc.d() if h0 is not None else None
        l0 = sc.d() if k0 is not None else None
        F = sc.lg() if l0 is not None else None
        if F is None:
            break
        i, j, m = h0 - h_min, k0 - k_min, l0 - l_min
        # C writes out of bounds here for indices outside pass 1's ranges; we drop them
        if 0 <= i <= h_range and 0 <= j <= k_range and 0 <= m <= l_range:
            Fhkl[i, j, m] = F
    return HklTable(Fhkl, h_min, h_max, h_range, k_min, k_max, k_range, l_min, l_max, l_range, hkls)
