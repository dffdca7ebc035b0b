"""Detector conventions, pivots and geometry (nanoBragg.c 1155-1776).

Each step takes the configuration, reads it only, and returns what it settles (C's names as fields):
`detector_size` the size and pixel counts (DetectorSize), `beam_centre_defaults` the near point, beam
centre and ROI defaults (BeamCentreDefaults), `apply_convention` the beam centre, axes and forced pivot
of the convention block (Convention), `normalize_axes` the unitized axes (Axes), `place_detector` the rotated axes, pix0 and the derived
beam-centre values exactly as C orders them (DetectorFrame). make_plan applies each result to its own
copy of the configuration before the next step reads it.
"""
import math
import sys
from typing import NamedTuple

from .kernels import vecmath

# convention: beam, fdet, sdet, odet, twotheta_axis, polar, spindle (x, y, z)
CONVENTION_AXES = {
    "ADXV": ((0, 0, 1), (1, 0, 0), (0, -1, 0), (0, 0, 1), (-1, 0, 0), (1, 0, 0), (1, 0, 0)),
    "MOSFLM": ((1, 0, 0), (0, 0, 1), (0, -1, 0), (1, 0, 0), (0, 0, -1), (0, 0, 1), (0, 0, 1)),
    "DENZO": ((1, 0, 0), (0, 0, 1), (0, -1, 0), (1, 0, 0), (0, 0, -1), (0, 0, 1), (0, 0, 1)),
    "XDS": ((0, 0, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 0, 0), (1, 0, 0), (1, 0, 0)),
    "DIALS": ((0, 0, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 0), (0, 1, 0), (0, 1, 0)),
}
_VECTORS = ("beam_vector", "fdet_vector", "sdet_vector", "odet_vector", "twotheta_axis",
            "polar_vector", "spindle_vector")


class DetectorSize(NamedTuple):
    """C 1118-1127: the detector's size (m) and pixel counts."""
    detsize_f: float
    detsize_s: float
    fpixels: int
    spixels: int


class BeamCentreDefaults(NamedTuple):
    """C 1155-1170: the near point and beam centre where not given, and the ROI defaults (pixels, inclusive)."""
    Fclose: float
    Sclose: float
    Xclose: float
    Yclose: float
    Fbeam: float
    Sbeam: float
    roi_xmin: int
    roi_xmax: int
    roi_ymin: int
    roi_ymax: int


def detector_size(p):
    """C 1118-1127 from the configuration: a pixel count sets the size, then the counts from the size."""
    detsize_f, detsize_s = p.detsize_f, p.detsize_s
    if p.fpixels:
        detsize_f = p.pixel_size * p.fpixels
    if p.spixels:
        detsize_s = p.pixel_size * p.spixels
    return DetectorSize(detsize_f=detsize_f, detsize_s=detsize_s,
                        fpixels=math.ceil(detsize_f / p.pixel_size - 0.5),
                        spixels=math.ceil(detsize_s / p.pixel_size - 0.5))


def beam_centre_defaults(p):
    """C 1155-1170: reads the detector size and pixel counts detector_size settled (make_plan's partially
    settled copy); returns BeamCentreDefaults and changes nothing."""
    px = p.pixel_size
    Fclose, Sclose, Xclose, Yclose, Fbeam, Sbeam = p.Fclose, p.Sclose, p.Xclose, p.Yclose, p.Fbeam, p.Sbeam
    if not math.isnan(p.ORGX):
        Fclose = (p.ORGX - 0.5) * px
    if not math.isnan(p.ORGY):
        Sclose = (p.ORGY - 0.5) * px
    if math.isnan(Fclose):
        Fclose = (p.detsize_f - 0 * px) / 2.0
    if math.isnan(Sclose):
        Sclose = (p.detsize_s + 0 * px) / 2.0
    if math.isnan(Xclose):
        Xclose = Fclose
    if math.isnan(Yclose):
        Yclose = Sclose
    if math.isnan(Fbeam):
        Fbeam = Fclose
    if math.isnan(Sbeam):
        Sbeam = Sclose
    return BeamCentreDefaults(Fclose=Fclose, Sclose=Sclose, Xclose=Xclose, Yclose=Yclose, Fbeam=Fbeam, Sbeam=Sbeam,
                              roi_xmin=0 if p.roi_xmin < 0 else p.roi_xmin,
                              roi_xmax=p.fpixels if p.roi_xmax < 0 else p.roi_xmax,
                              roi_ymin=0 if p.roi_ymin < 0 else p.roi_ymin,
                              roi_ymax=p.spixels if p.roi_ymax < 0 else p.roi_ymax)


class Convention(NamedTuple):
    """What the convention block settles (C 1172-1257): beam centre, axes and pivot."""
    Xbeam: float
    Ybeam: float
    Fbeam: float
    Sbeam: float
    Fclose: float
    Sclose: float
    detector_pivot: str
    beam_vector: list
    fdet_vector: list
    sdet_vector: list
    odet_vector: list
    twotheta_axis: list
    polar_vector: list
    spindle_vector: list


class Axes(NamedTuple):
    """The unitized axes (C 1259-1272), each a new 4-list with its magnitude in [0] as unitize leaves it."""
    beam_vector: list
    fdet_vector: list
    sdet_vector: list
    odet_vector: list
    polar_vector: list
    spindle_vector: list
    vert_vector: list


class DetectorFrame(NamedTuple):
    """The placed detector (C 1700-1776): rotated axes, pix0 and the recomputed beam centre and distances."""
    fdet_vector: list
    sdet_vector: list
    odet_vector: list
    pix0_vector: list
    distance: float
    close_distance: float
    Fclose: float
    Sclose: float
    Fbeam: float
    Sbeam: float
    ORGX: float
    ORGY: float
    dials_origin: list


def apply_convention(p):
    """C 1172-1257: beam centre defaults, axes and forced pivot of the chosen convention.

    Reads p's pixel size, detector size, Xbeam/Ybeam, Xclose/Yclose (settled by make_plan's 1155-1170
    block) and the parsed axes; returns a Convention and changes nothing."""
    px = p.pixel_size
    conv = p.beam_convention
    Xbeam, Ybeam = p.Xbeam, p.Ybeam
    if conv == "ADXV":
        if math.isnan(Xbeam):
            Xbeam = (p.detsize_f + px) / 2.0
        if math.isnan(Ybeam):
            Ybeam = (p.detsize_s - px) / 2.0
    elif conv in ("MOSFLM", "DENZO"):
        if math.isnan(Xbeam):
            Xbeam = (p.detsize_s + px) / 2.0
        if math.isnan(Ybeam):
            Ybeam = (p.detsize_f + px) / 2.0
    else:
        if math.isnan(Xbeam):
            Xbeam = p.Xclose
        if math.isnan(Ybeam):
            Ybeam = p.Yclose
    axes = {name: list(getattr(p, name)) for name in _VECTORS}
    if conv in CONVENTION_AXES:
        for name, xyz in zip(_VECTORS, CONVENTION_AXES[conv]):
            axes[name] = [axes[name][0], float(xyz[0]), float(xyz[1]), float(xyz[2])]
    Fclose, Sclose, pivot = p.Fclose, p.Sclose, p.detector_pivot
    if conv == "ADXV":
        Fbeam = Xbeam
        Sbeam = p.detsize_s - Ybeam
        pivot = "BEAM"
    elif conv == "MOSFLM":
        # MOSFLM's half-pixel mapping of the beam centre
        Fbeam = Ybeam + 0.5 * px
        Sbeam = Xbeam + 0.5 * px
        pivot = "BEAM"
    elif conv == "DENZO":
        Fbeam = Ybeam + 0.0 * px
        Sbeam = Xbeam + 0.0 * px
        pivot = "BEAM"
    elif conv in ("XDS", "DIALS"):
        Fbeam = Xbeam
        Sbeam = Ybeam
        pivot = "SAMPLE"
    else:  # CUSTOM: the pivot stays as parsed
        Fbeam = Xbeam
        Sbeam = Ybeam
        Fclose = Xbeam
        Sclose = Ybeam
    return Convention(Xbeam=Xbeam, Ybeam=Ybeam, Fbeam=Fbeam, Sbeam=Sbeam, Fclose=Fclose, Sclose=Sclose,
                      detector_pivot=pivot, **axes)


def normalize_axes(p, log):
    """C 1259-1272: unitize the axes (never twotheta_axis); rebuild odet if it was not unit length.

    Reads the axes as apply_convention settled them (make_plan passes its partially settled copy);
    returns Axes (new lists) and changes nothing."""
    beam, fdet, sdet, odet, polar, spindle = (list(getattr(p, name)) for name in (
        "beam_vector", "fdet_vector", "sdet_vector", "odet_vector", "polar_vector", "spindle_vector"))
    vecmath.unitize_v4(beam)
    vecmath.unitize_v4(fdet)
    vecmath.unitize_v4(sdet)
    if vecmath.unitize_v4(odet) != 1.0:
        log("WARNING: auto-generating odet_vector")
        odet = vecmath.cross_v4(fdet, sdet)
        vecmath.unitize_v4(odet)
    vecmath.unitize_v4(polar)
    vecmath.unitize_v4(spindle)
    vert = vecmath.cross_v4(beam, polar)
    vecmath.unitize_v4(vert)
    return Axes(beam_vector=beam, fdet_vector=fdet, sdet_vector=sdet, odet_vector=odet, polar_vector=polar,
                spindle_vector=spindle, vert_vector=vert)


def place_detector(p, log):
    """C 1700-1776: pivot, rotations, pix0 and the recomputed beam centre, distance and origins.

    Reads the unitized axes (normalize_axes), the convention's beam centre and pivot (apply_convention)
    and the parsed distances and rotations from make_plan's partially settled copy; returns a
    DetectorFrame and changes nothing."""
    rot = (p.detector_rotx, p.detector_roty, p.detector_rotz)
    # the distance ratio ignores the two-theta swing (quirk C3)
    v = vecmath.rotate_v4(p.odet_vector, *rot)
    ratio = vecmath.dot_v4(p.beam_vector, v)
    if ratio == 0.0:
        ratio = sys.float_info.min
    close_distance = p.close_distance
    if math.isnan(close_distance):
        close_distance = abs(ratio * p.distance)
    distance = close_distance / ratio

    f, s, o = p.fdet_vector, p.sdet_vector, p.odet_vector
    if p.detector_pivot == "SAMPLE":
        log("pivoting detector around sample")
        pix0 = [0.0] + [-p.Fclose * f[i] - p.Sclose * s[i] + close_distance * o[i] for i in (1, 2, 3)]
        pix0 = vecmath.rotate_v4(pix0, *rot)
        pix0 = vecmath.rotate_axis_v4(pix0, p.twotheta_axis, p.detector_twotheta)
    f = vecmath.rotate_axis_v4(vecmath.rotate_v4(f, *rot), p.twotheta_axis, p.detector_twotheta)
    s = vecmath.rotate_axis_v4(vecmath.rotate_v4(s, *rot), p.twotheta_axis, p.detector_twotheta)
    o = vecmath.rotate_axis_v4(vecmath.rotate_v4(o, *rot), p.twotheta_axis, p.detector_twotheta)
    if p.detector_pivot == "BEAM":
        log("pivoting detector around direct beam spot")
        pix0 = [0.0] + [-p.Fbeam * f[i] - p.Sbeam * s[i] + distance * p.beam_vector[i] for i in (1, 2, 3)]

    Fclose = -vecmath.dot_v4(pix0, f)
    Sclose = -vecmath.dot_v4(pix0, s)
    close_distance = vecmath.dot_v4(pix0, o)
    n = [0.0] + [close_distance / ratio * p.beam_vector[i] - pix0[i] for i in (1, 2, 3)]
    Fbeam = vecmath.dot_v4(f, n)
    Sbeam = vecmath.dot_v4(s, n)
    distance = close_distance / ratio
    dials_origin = [0.0,
                    1000.0 * vecmath.dot_v4(pix0, [0, 0.0, 0.0, 1.0]),
                    1000.0 * vecmath.dot_v4(pix0, [0, 0.0, 1.0, 0.0]),
                    1000.0 * vecmath.dot_v4(pix0, [0, -1.0, 0.0, 0.0])]
    b = p.beam_vector
    log("XDS incident beam: %g %g %g" % (vecmath.dot_v4(b, f), vecmath.dot_v4(b, s), vecmath.dot_v4(b, o)))
    return DetectorFrame(fdet_vector=f, sdet_vector=s, odet_vector=o, pix0_vector=pix0, distance=distance,
                         close_distance=close_distance, Fclose=Fclose, Sclose=Sclose, Fbeam=Fbeam, Sbeam=Sbeam,
                         ORGX=Fclose / p.pixel_size + 0.5, ORGY=Sclose / p.pixel_size + 0.5,
                         dials_origin=dials_origin)
