"""SMV (ADSC) images: nanoBragg's header text and writer (C 3160-3184), its frame reader
GetFrame (C 4124-4233) and header lookup ValueOf (C 4236-4261)."""
import math
import os
import re
import stat

import numpy as np

from ..errors import NanoBraggError
from .atomic import atomic_write
from .cscan import atof, c_g, c_string, double_to_int, wrap_int32
from .images import open_input, printable


def smv_header(*, fpixels, spixels, pixel_size_mm, distance_mm, wavelength_A, beam_center_x_mm,
               beam_center_y_mm, adxv_center_x_mm, adxv_center_y_mm, mosflm_center_x_mm,
               mosflm_center_y_mm, denzo_x_beam_mm, denzo_y_beam_mm, dials_origin_mm, xds_orgx, xds_orgy,
               close_distance_mm, phi_deg, osc_start_deg, osc_range_deg, twotheta_deg) -> bytes:
    """The header bytes nanoBragg writes: %g values, "}\\f", then spaces up to byte 512.

    DIALS_ORIGIN has no ';' (quirk E8). A text longer than 512 bytes is kept whole and unpadded,
    so the pixels then start later while HEADER_BYTES still says 512 (quirk E7).
    """
    def g(*values):
        return tuple(c_g(v) for v in values)

    text = ("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n"
            + "SIZE1=%d;\nSIZE2=%d;\n" % (fpixels, spixels)
            + "PIXEL_SIZE=%s;\nDISTANCE=%s;\n" % g(pixel_size_mm, distance_mm)
            + "WAVELENGTH=%s;\n" % g(wavelength_A)
            + "BEAM_CENTER_X=%s;\nBEAM_CENTER_Y=%s;\n" % g(beam_center_x_mm, beam_center_y_mm)
            + "ADXV_CENTER_X=%s;\nADXV_CENTER_Y=%s;\n" % g(adxv_center_x_mm, adxv_center_y_mm)
            + "MOSFLM_CENTER_X=%s;\nMOSFLM_CENTER_Y=%s;\n" % g(mosflm_center_x_mm, mosflm_center_y_mm)
            + "DENZO_X_BEAM=%s;\nDENZO_Y_BEAM=%s;\n" % g(denzo_x_beam_mm, denzo_y_beam_mm)
            + "DIALS_ORIGIN=%s,%s,%s\n" % g(*dials_origin_mm)
            + "XDS_ORGX=%s;\nXDS_ORGY=%s;\n" % g(xds_orgx, xds_orgy)
            + "CLOSE_DISTANCE=%s;\n" % g(close_distance_mm)
            + "PHI=%s;\nOSC_START=%s;\nOSC_RANGE=%s;\n" % g(phi_deg, osc_start_deg, osc_range_deg)
            + "TWOTHETA=%s;\n" % g(twotheta_deg)
            + "DETECTOR_SN=000;\nBEAMLINE=fake;\n}\f").encode("ascii")
    return text + b" " * max(0, 512 - len(text))


def write_smv(path, header: bytes, data):
    """Header bytes followed by the uint16 pixels, little-endian, written atomically."""
    atomic_write(path, bytes(header), np.ascontiguousarray(data, dtype="<u2"))


MAX_HEADER_BYTES = 1 << 24   # HEADER_BYTES read from a pipe, whose length is not known beforehand
PIXEL_TYPES = ("unsigned_short",)


def header_word(header_text, key):
    """The text of KEY=value; at the start of a line (or after ';'): None when there is no such key."""
    m = re.search(r"(?:^|[\n\r;{])[ \t]*" + re.escape(key) + r"[ \t]*=[ \t]*([^;\n\r]*)", header_text)
    return m.group(1).strip() if m else None


def read_smv(path, as_float=False, byte_order=False):
    """GetFrame as -img and -mask use it: (header text, uint16 pixels shaped (SIZE2, SIZE1)).

    The pixels are None when the file does not start with "{\\nHEADER_BYT" (C prints
    "ERROR: <file> does not look like an ADSC frame!" and skips the file). Pixels are read
    little-endian whatever BYTE_ORDER says (C never swaps; byte_order=True honours BYTE_ORDER=big_endian,
    as `nbnumba show` does) from byte 2*(HEADER_BYTES//2).
    Errors where C exits 9 or crashes raise NanoBraggError naming the file; an unreadable file
    too (C only prints perror there and ignores the option: a caller may catch it to do that).
    So do, where C would read on regardless, what cannot be the image the header describes: a file
    shorter than its header says (C reads the missing pixels as 0), a TYPE other than unsigned_short,
    a directory. A frame larger than the memory available for it and a run on it (as_float: kept as
    float32, as -img keeps it) raises NanoBraggError before anything is allocated. A FIFO is opened
    without waiting for a writer and read no further than the header says.
    """
    try:
        fh = open_input(path)
    except OSError as e:
        raise NanoBraggError("%s: %s" % (path, e.strerror or e)) from None
    try:
        with fh:
            return _read_smv(fh, path, as_float, byte_order)
    except OSError as e:
        raise NanoBraggError("%s: %s" % (path, e.strerror or e)) from None


def _read_smv(fh, path, as_float, byte_order):
    st = os.fstat(fh.fileno())
    regular = stat.S_ISREG(st.st_mode)
    buf = bytearray()

    def need(n):
        """Reads on until buf holds n bytes (or the file ends): whether it does."""
        while len(buf) < n:
            chunk = fh.read(min(n - len(buf), 1 << 24))
            if not chunk:
                return False
            buf.extend(chunk)
        return True

    if not need(512):  # fread(header, 512, 1) fails: perror("SMV file header"), exit 9
        raise NanoBraggError("SMV file header: %s is shorter than 512 bytes" % path)
    raw = bytes(buf[:512])
    header = c_string(raw).decode("latin-1")
    if not raw.startswith(b"{\nHEADER_BYT"):
        return header, None
    size = double_to_int(value_of(header, "HEADER_BYTES", nan=True))
    if size != 512:
        limit = st.st_size if regular else MAX_HEADER_BYTES
        if size <= 0 or size > limit or not need(size):  # the second fread fails: exit 9
            raise NanoBraggError("SMV file fread: %s cannot hold a %d-byte header" % (path, size))
        header = c_string(bytes(buf[:size])).decode("latin-1")
    if "BYTE_ORDER=" not in header:  # C dereferences strstr()'s NULL + 11 here
        raise NanoBraggError("%s: SMV header has no BYTE_ORDER= (nanoBragg.c would crash)" % path)
    kind = header_word(header, "TYPE")
    if kind is not None and kind.lower() not in PIXEL_TYPES:
        raise NanoBraggError("%s: SMV pixels of TYPE=%s: only TYPE=unsigned_short (16-bit) images are read"
                             % (path, printable(kind)))
    swap = False
    if byte_order:
        order = (header_word(header, "BYTE_ORDER") or "").lower()
        if order not in ("little_endian", "big_endian"):
            raise NanoBraggError("%s: SMV BYTE_ORDER=%s: neither little_endian nor big_endian"
                                 % (path, printable(order)))
        swap = order == "big_endian"
    size1 = value_of(header, "SIZE1", nan=True)
    size2 = value_of(header, "SIZE2", nan=True)
    width = double_to_int(size1)
    height = double_to_int(size2)
    said = "SIZE1=%s SIZE2=%s" % (c_g(size1), c_g(size2))
    if width == 0:
        dims = value_of(header, "DETECTOR_DIMENSIONS", nan=True)
        width = height = double_to_int(dims)
        said += " and no DETECTOR_DIMENSIONS" if math.isnan(dims) else " DETECTOR_DIMENSIONS=%s" % c_g(dims)
    pixels = wrap_int32(width * height)
    # C goes on with a frame of no pixel (a detector of no pixel) or garbage sizes: refuse them all
    if width <= 0 or height <= 0 or pixels != width * height or wrap_int32(pixels + size) != pixels + size:
        raise NanoBraggError("%s: bad SMV image size %s (the image must have at least one pixel, "
                             "fewer than 2^31)" % (path, said))
    start = 2 * (size // 2)
    end = start + 2 * pixels

    def truncated(have):
        return NanoBraggError("%s: truncated SMV image: its header says %dx%d 2-byte pixels from byte %d, "
                              "%d bytes in all; the file has %d" % (path, width, height, start, end, have))
    from ..checks import check_memory, frame_bytes
    check_memory(frame_bytes(pixels, as_float), "the %dx%d-pixel image %s" % (width, height, path))
    if regular and st.st_size < end:
        raise truncated(st.st_size)
    if regular:
        words = np.empty(pixels, dtype="<u2")
        fh.seek(start)
        got = fh.readinto(memoryview(words).cast("B"))
        if got != 2 * pixels:
            raise truncated(start + got)
    else:
        if not need(end):
            raise truncated(len(buf))
        words = np.frombuffer(bytes(buf[start:end]), dtype="<u2").copy()
    if swap:
        words = words.byteswap()
    return header, words.astype(np.uint16, copy=False).reshape(height, width)


def value_of(header_text, keyword, nan=False):
    """ValueOf: atof of the text after the first '=' that follows the LAST occurrence of `keyword`.

    Occurrences are searched left to right, each search starting after the previous match, so
    "DISTANCE" matches inside "CLOSE_DISTANCE=" in nanoBragg's own headers (quirk B9).
    Returns None where C returns NaN (keyword absent; float NaN instead with nan=True),
    0.0 when no '=' follows, atof's 0.0 when no number follows the '='.
    """
    text = header_text.split("\0", 1)[0]
    pos = -1
    i = text.find(keyword)
    while i >= 0 and keyword:
        pos = i + len(keyword)
        i = text.find(keyword, pos)
    if pos < 0:
        return float("nan") if nan else None
    eq = text.find("=", pos)
    if eq < 0:
        return 0.0
    return atof(text.encode("latin-1"), eq + 1)
