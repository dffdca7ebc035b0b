"""SMV (ADSC) images: nanoBragg's header text, its writer, and its ValueOf header lookup."""
import numpy as np

from ..errors import NanoBraggError
from .atomic import atomic_write


def smv_header(*, fpixels, spixels, pixel_size_mm, distance_mm, wavelength_A, beam_center_x_mm,
               beam_center_y_mm, adxv_center_x_mm, adxv_center_y_mm, mosflm_center_x_mm,
               mosflm_center_y_mm, denzo_x_beam_mm, denzo_y_beam_mm, dials_origin_mm, xds_orgx, xds_orgy,
               close_distance_mm, phi_deg, osc_start_deg, osc_range_deg, twotheta_deg):
    """The header bytes nanoBragg writes (C 3167-3182): %g values, padded with spaces to 512 bytes.

    A text longer than 512 bytes is kept whole (the data then start later, quirk E7)."""
    text = ("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n"
            "SIZE1=%d;\nSIZE2=%d;\nPIXEL_SIZE=%g;\nDISTANCE=%g;\n" % (fpixels, spixels, pixel_size_mm, distance_mm)
            + "WAVELENGTH=%g;\n" % wavelength_A
            + "BEAM_CENTER_X=%g;\nBEAM_CENTER_Y=%g;\n" % (beam_center_x_mm, beam_center_y_mm)
            + "ADXV_CENTER_X=%g;\nADXV_CENTER_Y=%g;\n" % (adxv_center_x_mm, adxv_center_y_mm)
            + "MOSFLM_CENTER_X=%g;\nMOSFLM_CENTER_Y=%g;\n" % (mosflm_center_x_mm, mosflm_center_y_mm)
            + "DENZO_X_BEAM=%g;\nDENZO_Y_BEAM=%g;\n" % (denzo_x_beam_mm, denzo_y_beam_mm)
            + "DIALS_ORIGIN=%g,%g,%g\n" % tuple(dials_origin_mm)
            + "XDS_ORGX=%g;\nXDS_ORGY=%g;\n" % (xds_orgx, xds_orgy)
            + "CLOSE_DISTANCE=%g;\n" % close_distance_mm
            + "PHI=%g;\nOSC_START=%g;\nOSC_RANGE=%g;\n" % (phi_deg, osc_start_deg, osc_range_deg)
            + "TWOTHETA=%g;\n" % twotheta_deg
            + "DETECTOR_SN=000;\nBEAMLINE=fake;\n}\f").encode("ascii")
    return text + b" " * max(0, 512 - len(text))


def write_smv(path, header, data):
    """Header bytes followed by the uint16 pixels, little-endian, written atomically."""
    atomic_write(path, header + np.ascontiguousarray(data, dtype="<u2").tobytes())


def read_smv(path):
    """(header text, uint16 pixels) of an SMV file; the pixels are None if the file has no data."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        raise NanoBraggError("%s: cannot read (%s)" % (path, e.strerror)) from None
    if not raw.startswith(b"{\nHEADER_BYT"):
        raise NanoBraggError("%s: not an SMV image (no '{ HEADER_BYTES' header)" % path)
    head = raw[:512].split(b"\0", 1)[0].decode("latin-1")
    size = value_of(head, "HEADER_BYTES")
    size = int(size) if size and size > 0 else 512
    header = raw[:size].split(b"\0", 1)[0].decode("latin-1")
    w, h = value_of(header, "SIZE1"), value_of(header, "SIZE2")
    data = None
    if w and h and len(raw) >= size + 2 * int(w) * int(h):
        data = np.frombuffer(raw[size:size + 2 * int(w) * int(h)], "<u2").copy()
    return header, data


def value_of(header, keyword):
    """nanoBragg's ValueOf: the number after the '=' following the LAST occurrence of `keyword`.

    The last occurrence is what makes DISTANCE pick up CLOSE_DISTANCE= in nanoBragg's own headers
    (quirk B9). None if the keyword is absent (C: NaN), 0.0 if no '=' follows.
    """
    from ..cli.argv import c_atof
    at = header.rfind(keyword)
    if at < 0:
        return None
    rest = header[at + len(keyword):]
    eq = rest.find("=")
    if eq < 0:
        return 0.0
    return c_atof(rest[eq + 1:])
