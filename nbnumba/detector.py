"""Detector conventions, pivots and geometry (nanoBragg.c 1155-1776).

`apply_convention` fills in the beam centre and axes the way the convention block does (it also
forces the pivot); `place_detector` then rotates the axes and computes pix0 and the derived
beam-centre values exactly as C orders them.
"""
import math
import sys

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


def apply_convention(p):
    """C 1172-1257: beam centre defaults, axes and forced pivot of the chosen convention."""
    px = p.pixel_size
    conv = p.beam_convention
    if conv == "ADXV":
        if math.isnan(p.Xbeam):
            p.Xbeam = (p.detsize_f + px) / 2.0
        if math.isnan(p.Ybeam):
            p.Ybeam = (p.detsize_s - px) / 2.0
    elif conv in ("MOSFLM", "DENZO"):
        if math.isnan(p.Xbeam):
            p.Xbeam = (p.detsize_s + px) / 2.0
        if math.isnan(p.Ybeam):
            p.Ybeam = (p.detsize_f + px) / 2.0
    else:
        if math.isnan(p.Xbeam):
            p.Xbeam = p.Xclose
        if math.isnan(p.Ybeam):
            p.Ybeam = p.Yclose
    if conv in CONVENTION_AXES:
        for name, xyz in zip(_VECTORS, CONVENTION_AXES[conv]):
            setattr(p, name, [getattr(p, name)[0], float(xyz[0]), float(xyz[1]), float(xyz[2])])
    if conv == "ADXV":
        p.Fbeam = p.Xbeam
        p.Sbeam = p.detsize_s - p.Ybeam
        p.detector_pivot = "BEAM"
    elif conv == "MOSFLM":
        # MOSFLM's half-pixel mapping of the beam centre
        p.Fbeam = p.Ybeam + 0.5 * px
        p.Sbeam = p.Xbeam + 0.5 * px
        p.detector_pivot = "BEAM"
    elif conv == "DENZO":
        p.Fbeam = p.Ybeam + 0.0 * px
        p.Sbeam = p.Xbeam + 0.0 * px
        p.detector_pivot = "BEAM"
    elif conv in ("XDS", "DIALS"):
        p.Fbeam = p.Xbeam
        p.Sbeam = p.Ybeam
        p.detector_pivot = "SAMPLE"
    else:  # CUSTOM: the pivot stays as parsed
        p.Fbeam = p.Xbeam
        p.Sbeam = p.Ybeam
        p.Fclose = p.Xbeam
        p.Sclose = p.Ybeam


def normalize_axes(p, log):
    """C 1259-1272: unitize the axes (never twotheta_axis); rebuild odet if it was not unit length."""
    vecmath.unitize_v4(p.beam_vector)
    vecmath.unitize_v4(p.fdet_vector)
    vecmath.unitize_v4(p.sdet_vector)
    if vecmath.unitize_v4(p.odet_vector) != 1.0:
        log("WARNING: auto-generating odet_vector")
        p.odet_vector = vecmath.cross_v4(p.fdet_vector, p.sdet_vector)
        vecmath.unitize_v4(p.odet_vector)
    vecmath.unitize_v4(p.polar_vector)
    vecmath.unitize_v4(p.spindle_vector)
    p.vert_vector = vecmath.cross_v4(p.beam_vector, p.polar_vector)
    vecmath.unitize_v4(p.vert_vector)


def place_detector(p, log):
    """C 1700-1776: pivot, rotations, pix0 and the recomputed beam centre, distance and origins."""
    rot = (p.detector_rotx, p.detector_roty, p.detector_rotz)
    # the distance ratio ignores the two-theta swing (quirk C3)
    v = vecmath.rotate_v4(p.odet_vector, *rot)
    ratio = vecmath.dot_v4(p.beam_vector, v)
    if ratio == 0.0:
        ratio = sys.float_info.min
    if math.isnan(p.close_distance):
        p.close_distance = abs(ratio * p.distance)
    p.distance = p.close_distance / ratio

    f, s, o = p.fdet_vector, p.sdet_vector, p.odet_vector
    if p.detector_pivot == "SAMPLE":
        log("pivoting detector around sample")
        pix0 = [0.0] + [-p.Fclose * f[i] - p.Sclose * s[i] + p.close_distance * o[i] for i in (1, 2, 3)]
        pix0 = vecmath.rotate_v4(pix0, *rot)
        pix0 = vecmath.rotate_axis_v4(pix0, p.twotheta_axis, p.detector_twotheta)
    p.fdet_vector = f = vecmath.rotate_axis_v4(vecmath.rotate_v4(f, *rot), p.twotheta_axis, p.detector_twotheta)
    p.sdet_vector = s = vecmath.rotate_axis_v4(vecmath.rotate_v4(s, *rot), p.twotheta_axis, p.detector_twotheta)
    p.odet_vector = o = vecmath.rotate_axis_v4(vecmath.rotate_v4(o, *rot), p.twotheta_axis, p.detector_twotheta)
    if p.detector_pivot == "BEAM":
        log("pivoting detector around direct beam spot")
        pix0 = [0.0] + [-p.Fbeam * f[i] - p.Sbeam * s[i] + p.distance * p.beam_vector[i] for i in (1, 2, 3)]
    p.pix0_vector = pix0

    p.Fclose = -vecmath.dot_v4(pix0, f)
    p.Sclose = -vecmath.dot_v4(pix0, s)
    p.close_distance = vecmath.dot_v4(pix0, o)
    n = [0.0] + [p.close_distance / ratio * p.beam_vector[i] - pix0[i] for i in (1, 2, 3)]
    p.Fbeam = vecmath.dot_v4(f, n)
    p.Sbeam = vecmath.dot_v4(s, n)
    p.distance = p.close_distance / ratio
    p.ORGX = p.Fclose / p.pixel_size + 0.5
    p.ORGY = p.Sclose / p.pixel_size + 0.5
    p.dials_origin = [0.0,
                      1000.0 * vecmath.dot_v4(pix0, [0, 0.0, 0.0, 1.0]),
                      1000.0 * vecmath.dot_v4(pix0, [0, 0.0, 1.0, 0.0]),
                      1000.0 * vecmath.dot_v4(pix0, [0, -1.0, 0.0, 0.0])]
    b = p.beam_vector
    log("XDS incident beam: %g %g %g" % (vecmath.dot_v4(b, f), vecmath.dot_v4(b, s), vecmath.dot_v4(b, o)))
