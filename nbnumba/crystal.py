"""Unit cell, orientation and crystal size (nanoBragg.c 1791-2091).

The reciprocal cell comes from -cell (with C's default orientation, including its triclinic
c*_z quirk C9) or from a MOSFLM matrix, is rotated by the misset, then converted to real space and
back exactly as C does, so a0/b0/c0 carry the same bits as nanoBragg's. build_cell and crystal_size
read the configuration and return what they settle (Cell, CrystalSize); make_plan applies it.
"""
import math
import sys
from typing import NamedTuple

import numpy as np

from .kernels import vecmath
from .io.cscan import double_to_int
from .random_numbers import mosaic_rotation_umat, umat2misset
from .sampling import RTD

_CLAMP = 1.0000001


def _clamp_angles(sins, coss, log, title, names):
    """C's warning for out-of-range sines/cosines, its clamping (a NaN stays NaN), and the angles.

    Returns (clamped sines, clamped cosines, atan2 angles)."""
    if any(x > _CLAMP or x < -_CLAMP for x in (*sins, *coss)):
        log(title)
        for n, sv, cv in zip(names, sins, coss):
            log("sin%s = %.25g" % (n, sv))
            log("cos%s = %.25g" % (n, cv))
    sins = [1.0 if x > 1.0 else (-1.0 if x < -1.0 else x) for x in sins]
    coss = [1.0 if x * x > 1.0 else x for x in coss]
    return sins, coss, [math.atan2(sv, cv) for sv, cv in zip(sins, coss)]


class Cell(NamedTuple):
    """The built cell: real axes a0, b0, c0 (meters), reciprocal a*, b*, c* (1/Angstrom, unrotated by phi
    or mosaic), the volume V_cell (A^3) and the misset as applied ([0] = 1 once a random one is drawn)."""
    a0: list
    b0: list
    c0: list
    a_star: list
    b_star: list
    c_star: list
    V_cell: float
    misset: list


class CrystalSize(NamedTuple):
    """Cells along a, b, c (C's doubles) and the oversampling (auto-selected when it was unset)."""
    Na: float
    Nb: float
    Nc: float
    oversample: int


def build_cell(p, rng, log):
    """C 1792-2062: the cell from -cell and/or -mat, the misset, and C's real/reciprocal round trip.

    Reads only the configuration (the cell, matrix file, lambda0, misset and misset_seed); draws a random
    misset from `rng` (the run's shared generator, which it advances) with a seed box of its own.
    Returns a Cell and changes nothing in p."""
    a = [p.a[0], 0.0, 0.0, 0.0]
    b = [p.b[0], 0.0, 0.0, 0.0]
    c = [p.c[0], 0.0, 0.0, 0.0]
    a_star = [0.0] * 4
    b_star = [0.0] * 4
    c_star = [0.0] * 4
    alpha, beta, gamma = p.alpha, p.beta, p.gamma
    V_cell = 0.0
    if p.user_cell:
        if b[0] <= 0.0:
            b[0] = a[0]
        if c[0] <= 0.0:
            c[0] = a[0]
        if alpha <= 0.0:
            alpha = math.pi / 2
        if beta <= 0.0:
            beta = math.pi / 2
        if gamma <= 0.0:
            gamma = math.pi / 2
        aavg = (alpha + beta + gamma) / 2
        skew = math.sin(aavg) * math.sin(aavg - alpha) * math.sin(aavg - beta) * math.sin(aavg - gamma)
        if skew < 0.0:
            skew = -skew
        V_cell = 2.0 * a[0] * b[0] * c[0] * math.sqrt(skew)
        if V_cell <= 0.0:
            log("WARNING: impossible unit cell volume: %g" % V_cell)
            V_cell = sys.float_info.min
        V_star = 1.0 / V_cell
        a_star[0] = b[0] * c[0] * math.sin(alpha) * V_star
        b_star[0] = c[0] * a[0] * math.sin(beta) * V_star
        c_star[0] = a[0] * b[0] * math.sin(gamma) * V_star
        if a_star[0] <= 0.0 or b_star[0] <= 0.0 or c_star[0] <= 0.0:
            log("WARNING: impossible reciprocal cell lengths: %g %g %g" % (a_star[0], b_star[0], c_star[0]))
            for v in (a_star, b_star, c_star):
                v[0] = abs(v[0]) if abs(v[0]) > 0.0 else sys.float_info.min
        sas = a[0] * V_star / b_star[0] / c_star[0]
        sbs = b[0] * V_star / a_star[0] / c_star[0]
        sgs = c[0] * V_star / a_star[0] / b_star[0]
        cas = (math.cos(beta) * math.cos(gamma) - math.cos(alpha)) / (math.sin(beta) * math.sin(gamma))
        cbs = (math.cos(gamma) * math.cos(alpha) - math.cos(beta)) / (math.sin(gamma) * math.sin(alpha))
        cgs = (math.cos(alpha) * math.cos(beta) - math.cos(gamma)) / (math.sin(alpha) * math.sin(beta))
        (_, _, sgs), (cas, cbs, cgs), _ = _clamp_angles(
            [sas, sbs, sgs], [cas, cbs, cgs], log, "WARNING: oddball reciprocal cell angles:",
            ("(alpha_star)", "(beta_star) ", "(gamma_star)"))
        # default orientation: a* along x, b* in the xy plane (c*_z uses C's formula, quirk C9)
        a_star[1] = a_star[0]
        b_star[1] = b_star[0] * cgs
        c_star[1] = c_star[0] * cbs
        a_star[2] = 0.0
        b_star[2] = b_star[0] * sgs
        c_star[2] = c_star[0] * (cas - cbs * cgs) / sgs
        a_star[3] = 0.0
        b_star[3] = 0.0
        c_star[3] = c_star[0] * V_cell / (a[0] * b[0] * c[0] * sgs)

    if p.matfilename is not None:
        from .io.matrix import read_mat
        m = read_mat(p.matfilename)
        if m is not None:
            log("reading %s" % p.matfilename)
            # rows are x, y, z; columns a*, b*, c*; a number fscanf could not read keeps the old value
            for row in range(3):
                for col, v in enumerate((a_star, b_star, c_star)):
                    if m[3 * row + col] is not None:
                        v[row + 1] = m[3 * row + col]
            s = 1e-10 / p.lambda0
            a_star = vecmath.scale_v4(a_star, s)
            b_star = vecmath.scale_v4(b_star, s)
            c_star = vecmath.scale_v4(c_star, s)

    misset = list(p.misset)
    if misset[0] == -1.0:
        umat = mosaic_rotation_umat(rng, 90.0, np.array([p.misset_seed], np.int64))
        misset[1:4] = umat2misset(umat)
        log("random orientation misset angles: %f %f %f deg" % (misset[1] * RTD, misset[2] * RTD, misset[3] * RTD))
        misset[0] = 1.0
    if misset[0] > 0.0:
        a_star = vecmath.rotate_v4(a_star, misset[1], misset[2], misset[3])
        b_star = vecmath.rotate_v4(b_star, misset[1], misset[2], misset[3])
        c_star = vecmath.rotate_v4(c_star, misset[1], misset[2], misset[3])
    if p.xtal_rotx != 0.0 or p.xtal_roty != 0.0 or p.xtal_rotz != 0.0:
        # not in nanoBragg.c: the API's further rotation of the crystal (derivatives' rotx, roty, rotz)
        a_star = vecmath.rotate_v4(a_star, p.xtal_rotx, p.xtal_roty, p.xtal_rotz)
        b_star = vecmath.rotate_v4(b_star, p.xtal_rotx, p.xtal_roty, p.xtal_rotz)
        c_star = vecmath.rotate_v4(c_star, p.xtal_rotx, p.xtal_roty, p.xtal_rotz)

    axb_s = vecmath.cross_v4(a_star, b_star)
    bxc_s = vecmath.cross_v4(b_star, c_star)
    cxa_s = vecmath.cross_v4(c_star, a_star)
    V_star = vecmath.dot_v4(a_star, bxc_s)
    if p.user_cell:
        bxc_s = vecmath.rescale_v4(bxc_s, a[0] / V_cell)
        cxa_s = vecmath.rescale_v4(cxa_s, b[0] / V_cell)
        axb_s = vecmath.rescale_v4(axb_s, c[0] / V_cell)
        V_star = 1.0 / V_cell
    V_cell = 1.0 / V_star
    a = vecmath.scale_v4(bxc_s, V_cell)
    b = vecmath.scale_v4(cxa_s, V_cell)
    c = vecmath.scale_v4(axb_s, V_cell)
    # rebuild the reciprocal vectors from the real ones (C 1960-1965)
    a_star = vecmath.scale_v4(vecmath.cross_v4(b, c), V_star)
    b_star = vecmath.scale_v4(vecmath.cross_v4(c, a), V_star)
    c_star = vecmath.scale_v4(vecmath.cross_v4(a, b), V_star)

    sa = a_star[0] * V_cell / b[0] / c[0]
    sb = b_star[0] * V_cell / a[0] / c[0]
    sg = c_star[0] * V_cell / a[0] / b[0]
    ca = vecmath.dot_v4(b, c) / b[0] / c[0]
    cb = vecmath.dot_v4(a, c) / a[0] / c[0]
    cg = vecmath.dot_v4(a, b) / a[0] / b[0]
    _, _, (alpha, beta, gamma) = _clamp_angles([sa, sb, sg], [ca, cb, cg], log, "WARNING: oddball cell angles:",
                                       ("_alpha", "_beta ", "_gamma"))
    sas = a[0] * V_star / b_star[0] / c_star[0]
    sbs = b[0] * V_star / a_star[0] / c_star[0]
    sgs = c[0] * V_star / a_star[0] / b_star[0]
    cas = vecmath.dot_v4(b_star, c_star) / b_star[0] / c_star[0]
    cbs = vecmath.dot_v4(a_star, c_star) / a_star[0] / c_star[0]
    cgs = vecmath.dot_v4(a_star, b_star) / a_star[0] / b_star[0]
    _, _, astar_ang = _clamp_angles([sas, sbs, sgs], [cas, cbs, cgs], log, "WARNING: oddball reciprocal cell angles:",
                              ("(alpha_star)", "(beta_star) ", "(gamma_star)"))

    log("Unit Cell: %g %g %g %g %g %g" % (a[0], b[0], c[0], alpha * RTD, beta * RTD, gamma * RTD))
    log("Recp Cell: %g %g %g %g %g %g" % (a_star[0], b_star[0], c_star[0],
                                          astar_ang[0] * RTD, astar_ang[1] * RTD, astar_ang[2] * RTD))
    log("volume = %g A^3" % V_cell)
    log("real-space cell vectors (Angstrom):")
    log("     %-10s  %-10s  %-10s" % ("a", "b", "c"))
    for i, axis in ((1, "X"), (2, "Y"), (3, "Z")):
        log("%s: %11.8f %11.8f %11.8f" % (axis, a[i], b[i], c[i]))
    log("reciprocal-space cell vectors (Angstrom^-1):")
    log("     %-10s  %-10s  %-10s" % ("a_star", "b_star", "c_star"))
    for i, axis in ((1, "X"), (2, "Y"), (3, "Z")):
        log("%s: %11.8f %11.8f %11.8f" % (axis, a_star[i], b_star[i], c_star[i]))

    return Cell(a0=vecmath.scale_v4(a, 1e-10), b0=vecmath.scale_v4(b, 1e-10), c0=vecmath.scale_v4(c, 1e-10),
                a_star=a_star, b_star=b_star, c_star=c_star, V_cell=V_cell, misset=misset)


def _c_ceil(x):
    """C's ceil() of a double: infinities and NaN stay as they are."""
    return float(math.ceil(x)) if math.isfinite(x) else x


def _ieee_div(a, b):
    """a / b as C divides doubles (x/0 is +-inf or NaN, never an exception)."""
    with np.errstate(all="ignore"):
        return float(np.float64(a) / np.float64(b))


def crystal_size(p, log):
    """C 2064-2101: cell counts from the sample size, the recommended oversampling, the MW print.

    Reads the cell build_cell settled (a0, b0, c0) and the detector distance place_detector settled,
    from make_plan's partially settled copy; returns a CrystalSize and changes nothing."""
    a0, b0, c0 = p.a0[0], p.b0[0], p.c0[0]
    Na, Nb, Nc = p.Na, p.Nb, p.Nc
    if p.sample_x > 0:
        Na = _c_ceil(p.sample_x / a0)
    if p.sample_y > 0:
        Nb = _c_ceil(p.sample_y / b0)
    if p.sample_z > 0:
        Nc = _c_ceil(p.sample_z / c0)
    if Na <= 1.0:
        Na = 1.0
    if Nb <= 1.0:
        Nb = 1.0
    if Nc <= 1.0:
        Nc = 1.0
    xa, xb, xc = a0 * Na, b0 * Nb, c0 * Nc
    log("crystal is %g x %g x %g microns" % (xa * 1e6, xb * 1e6, xc * 1e6))
    xmax = xa
    if xmax < xb:
        xmax = xb
    if xmax < xc:
        xmax = xc
    reciprocal_pixel_size = _ieee_div(p.lambda0 * p.distance, p.pixel_size)
    # C's int recommended_oversample = ceil(...): infinite, NaN or beyond int gives INT_MIN, so 1
    recommended = double_to_int(_c_ceil(_ieee_div(3.0 * xmax, reciprocal_pixel_size)))
    if recommended <= 0:
        recommended = 1
    oversample = p.oversample
    if oversample <= 0:
        oversample = recommended
        log("auto-selected %d-fold oversampling" % oversample)
    if oversample < recommended:
        log("WARNING: maximum dimension of sample is %g A" % (xmax * 1e10))
        log("         but reciprocal pixel size is %g A" % (reciprocal_pixel_size * 1e10))
        log("         intensity may vary significantly across a pixel!")
        log("         recommend -oversample %d to work around this" % recommended)
    volume = xa * xb * xc
    log("approximate MW = %g" % (volume * 1.2e6 * 6.02214179e23 / (Na * Nb * Nc)))
    return CrystalSize(Na=Na, Nb=Nb, Nc=Nc, oversample=oversample)
