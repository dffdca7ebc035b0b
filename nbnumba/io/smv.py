"""SMV (ADSC) images: nanoBragg's header text and writer (C 3160-3184), its frame reader
GetFrame (C 4124-4233) and header lookup ValueOf (C 4236-4261)."""
import math

import numpy as np

from ..errors import NanoBraggError
from .atomic import atomic_write
from .cscan import atof, c_g, c_string, double_to_int, wrap_int32


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


def read_smv(path, as_float=False):
    """GetFrame as -img and -mask use it: (header text, uint16 pixels shaped (SIZE2, SIZE1)).

    The pixels are None when the file does not start with "{\\nHEADER_BYT" (C prints
    "ERROR: <file> does not look like an ADSC frame!" and skips the file). Pixels are read
    little-endian whatever BYTE_ORDER says (C never swaps) from byte 2*(HEADER_BYTES//2);
    what lies past the end of the file reads as 0 (C's calloc'ed buffer).
    Errors where C exits 9 or crashes raise NanoBraggError naming the file; an unreadable file
    too (C only prints perror there and ignores the option: a caller may catch it to do that).
    A frame larger than the memory available for it and a run on it (as_float: kept as float32, as
    -img keeps it) raises NanoBraggError before anything is allocated.
    """
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        raise NanoBraggError("%s: %s" % (path, e.strerror)) from None
    if len(raw) < 512:  # fread(header, 512, 1) fails: perror("SMV file header"), exit 9
        raise NanoBraggError("SMV file header: %s is shorter than 512 bytes" % path)
    header = c_string(raw[:512]).decode("latin-1")
    if not raw.startswith(b"{\nHEADER_BYT"):
        return header, None
    size = double_to_int(value_of(header, "HEADER_BYTES", nan=True))
    if size != 512:
        if size <= 0 or size > len(raw):  # the second fread fails: exit 9
            raise NanoBraggError("SMV file fread: %s cannot hold a %d-byte header" % (path, size))
        header = c_string(raw[:size]).decode("latin-1")
    if "BYTE_ORDER=" not in header:  # C dereferences strstr()'s NULL + 11 here
        raise NanoBraggError("%s: SMV header has no BYTE_ORDER= (nanoBragg.c would crash)" % path)
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
    from ..checks import check_memory, frame_bytes
    check_memory(frame_bytes(pixels, as_float), "the %dx%d-pixel image %s" % (width, height, path))
    start = 2 * (size // 2)
    body = raw[start:start + 2 * pixels]
    words = np.zeros(pixels, dtype=np.uint16)
    n = len(body) // 2
    words[:n] = np.frombuffer(body[:2 * n], dtype="<u2")
    if len(body) % 2:  # a last odd byte: its low byte lands in the zeroed word
        words[n] = body[-1]
    return header, words.reshape(height, width)


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
