"""nanoBragg's 8-bit PGM (P5) image with its 'pixels scaled by' comment."""
import numpy as np

from .atomic import atomic_write


def pgm_bytes(fpixels, spixels, pgm_scale, pixels):
    head = b"P5\n%d %d\n" % (fpixels, spixels) + ("# pixels scaled by %g\n" % pgm_scale).encode() + b"255\n"
    return head + np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()


def write_pgm(path, fpixels, spixels, pgm_scale, pixels):
    atomic_write(path, pgm_bytes(fpixels, spixels, pgm_scale, pixels))


def read_pgm(path):
    """(fpixels, spixels, scale or None, uint8 pixels (spixels, fpixels))."""
    raw = open(path, "rb").read()
    lines = raw.split(b"\n", 4)
    f, s = map(int, lines[1].split())
    scale = float(lines[2].split()[-1]) if lines[2].startswith(b"#") else None
    data = np.frombuffer(raw[len(raw) - f * s:], np.uint8).reshape(s, f)
    return f, s, scale, data
