"""nanoBragg's 8-bit PGM (P5) image with its 'pixels scaled by' comment (C 3214-3224), and a reader of any
PGM (P5 or P2) that checks the header against the file before it reads a pixel."""
import os

import numpy as np

from ..errors import NanoBraggError
from .atomic import atomic_write
from .cscan import c_g


def pgm_parts(fpixels, spixels, pgm_scale, pixels_uint8):
    """The PGM file as (header bytes, pixel array)."""
    head = "P5\n%d %d\n# pixels scaled by %s\n255\n" % (fpixels, spixels, c_g(pgm_scale))
    return head.encode("ascii"), np.ascontiguousarray(pixels_uint8, dtype=np.uint8)


def write_pgm(path, fpixels, spixels, pgm_scale, pixels_uint8):
    atomic_write(path, *pgm_parts(fpixels, spixels, pgm_scale, pixels_uint8))


MAX_HEADER = 1 << 20      # a PGM header (with its comments) longer than this is not one we read


def pgm_header(path, raw):
    """(magic, width, height, maxval, offset of the first pixel byte, comments) of the PGM whose first bytes
    are `raw` (Netpbm's rules: whitespace-separated decimal numbers, '#' comments up to the end of a line,
    one whitespace byte after maxval). NanoBraggError naming `path` for anything else."""
    magic = raw[:2]
    if magic not in (b"P5", b"P2"):
        raise NanoBraggError("%s: not a PGM (no P5 or P2 magic number)" % path)
    i, n = 2, len(raw)
    numbers, comments = [], []
    while len(numbers) < 3:
        while i < n and raw[i:i + 1] in b" \t\n\r\v\f" and raw[i:i + 1]:
            i += 1
        if i < n and raw[i:i + 1] == b"#":
            j = i
            while j < n and raw[j:j + 1] not in (b"\n", b"\r"):
                j += 1
            comments.append(raw[i + 1:j].decode("latin-1").strip())
            i = j
            continue
        j = i
        while j < n and raw[j:j + 1].isdigit():
            j += 1
        if j == i or (j < n and raw[j:j + 1] not in b" \t\n\r\v\f#"):
            what = ("width", "height", "maxval")[len(numbers)]
            if i >= n:
                raise NanoBraggError("%s: truncated PGM header: no %s" % (path, what))
            raise NanoBraggError("%s: PGM header: the %s is not a decimal number (%s)"
                                 % (path, what, ascii(bytes(raw[i:i + 12]))))
        if j >= n:
            raise NanoBraggError("%s: truncated PGM header" % path)
        numbers.append(int(raw[i:j]))
        i = j
    width, height, maxval = numbers
    if not 1 <= maxval <= 65535:
        raise NanoBraggError("%s: PGM maxval %d (it must be 1 to 65535)" % (path, maxval))
    return magic, width, height, maxval, i + 1, comments


def read_pgm(path):
    """(fpixels, spixels, scale or None, pixels shaped (spixels, fpixels)) of a PGM: P5 (binary) or P2 (text),
    uint8 where maxval < 256, else uint16; the scale from a 'pixels scaled by' comment, as write_pgm writes.

    The header is parsed here and checked against the file's length and the memory available before any
    pixel is read: NanoBraggError naming the file for a damaged, truncated or impossible one."""
    from .images import check_pixels, open_input
    try:
        with open_input(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            raw = fh.read(MAX_HEADER)
            magic, width, height, maxval, offset, comments = pgm_header(path, raw)
            sample = 1 if maxval < 256 else 2
            check_pixels(path, "PGM", width, height, sample + 8)
            count = width * height
            if magic == b"P5":
                need = offset + count * sample
                if size < need:
                    raise NanoBraggError("%s: truncated PGM: its header says %d x %d pixels of %d byte(s) from "
                                         "byte %d, %d bytes in all; the file has %d"
                                         % (path, width, height, sample, offset, need, size))
                fh.seek(offset)
                data = np.fromfile(fh, dtype=np.uint8 if sample == 1 else ">u2", count=count)
            else:
                if size - offset < 2 * count - 1:          # every value is a digit and a separator
                    raise NanoBraggError("%s: truncated PGM: %d bytes cannot hold %d x %d text pixels"
                                         % (path, size, width, height))
                fh.seek(offset)
                words = fh.read().split()
                if len(words) < count:
                    raise NanoBraggError("%s: truncated PGM: %d of %d x %d pixel values"
                                         % (path, len(words), width, height))
                try:
                    data = np.array([int(w) for w in words[:count]], dtype=np.int64)
                except ValueError:
                    raise NanoBraggError("%s: a P2 PGM pixel that is not a decimal number" % path) from None
    except OSError as e:
        raise NanoBraggError("%s: %s" % (path, e.strerror or e)) from None
    if data.size != count:
        raise NanoBraggError("%s: truncated PGM: %d of %d pixels" % (path, data.size, count))
    if data.size and int(data.max()) > maxval:
        raise NanoBraggError("%s: damaged PGM: a pixel of %d above its maxval %d" % (path, int(data.max()), maxval))
    data = data.astype(np.uint8 if sample == 1 else np.uint16).reshape(height, width)
    scale = None
    for text in comments:
        if "scaled by" in text:
            try:
                scale = float(text.split()[-1])
            except (ValueError, IndexError):
                pass
    return width, height, scale, data
