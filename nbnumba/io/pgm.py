"""nanoBragg's 8-bit PGM (P5) image with its 'pixels scaled by' comment (C 3214-3224)."""
import numpy as np

from .atomic import atomic_write
from .cscan import c_g


def pgm_parts(fpixels, spixels, pgm_scale, pixels_uint8):
    """The PGM file as (header bytes, pixel array)."""
    head = "P5\n%d %d\n# pixels scaled by %s\n255\n" % (fpixels, spixels, c_g(pgm_scale))
    return head.encode("ascii"), np.ascontiguousarray(pixels_uint8, dtype=np.uint8)


def write_pgm(path, fpixels, spixels, pgm_scale, pixels_uint8):
    atomic_write(path, *pgm_parts(fpixels, spixels, pgm_scale, pixels_uint8))


def read_pgm(path):
    """(fpixels, spixels, scale or None, uint8 pixels shaped (spixels, fpixels)) of a file write_pgm wrote."""
    with open(path, "rb") as fh:
        raw = fh.read()
    lines = raw.split(b"\n", 4)
    f, s = map(int, lines[1].split())
    scale = float(lines[2].split()[-1]) if lines[2].startswith(b"#") else None
    data = np.frombuffer(raw[len(raw) - f * s:], np.uint8).reshape(s, f)
    return f, s, scale, data
