"""nanoBragg's structure-factor cache, Fdump.bin: a text header of six ints, '\\n\\f', raw doubles.

Reading follows C's fscanf("%d%d%d%d%d%d\\n\\f"): the whitespace directives swallow every whitespace
byte, including leading bytes of the first double when they happen to be 0x09-0x0D or 0x20 (quirk B3).
"""
import numpy as np

from ..errors import NanoBraggError
from .atomic import atomic_write
from .cscan import Scanner
from .hkl import HklTable


def write_fdump(path, table):
    head = b"%d %d %d %d %d %d\n\f" % (table.h_min, table.h_max, table.k_min, table.k_max, table.l_min, table.l_max)
    atomic_write(path, head + np.ascontiguousarray(table.Fhkl, dtype="<f8").tobytes())


def read_fdump(path, log=print):
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise NanoBraggError("%s: cannot read (%s)" % (path, e.strerror)) from None
    sc = Scanner(data)
    vals = []
    for _ in range(6):
        v = sc.d()
        if v is None:
            break
        vals.append(v)
    if len(vals) < 6:
        raise NanoBraggError("%s: not a structure-factor dump (bad header)" % path)
    sc.skip_ws()
    h_min, h_max, k_min, k_max, l_min, l_max = vals
    h_range, k_range, l_range = h_max - h_min + 1, k_max - k_min + 1, l_max - l_min + 1
    if h_range < 0 or k_range < 0 or l_range < 0 or (h_range + 1) * (k_range + 1) * (l_range + 1) > 2**31:
        raise NanoBraggError("%s: not a structure-factor dump (ranges %d %d %d)" % (path, h_range, k_range, l_range))
    need = 8 * (h_range + 1) * (k_range + 1) * (l_range + 1)
    body = data[sc.pos:sc.pos + need]
    buf = bytearray(need)          # C's calloc: what fread cannot fill stays zero
    buf[:len(body)] = body
    Fhkl = np.frombuffer(bytes(buf), "<f8").reshape(h_range + 1, k_range + 1, l_range + 1).copy()
    return HklTable(Fhkl, h_min, h_max, h_range, k_min, k_max, k_range, l_min, l_max, l_range,
                    h_range * k_range * l_range)
